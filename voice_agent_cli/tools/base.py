"""The tool seam: what the agent core needs from any source of tools.

:class:`ToolProvider` is the interface; :class:`FunctionTools` is the simplest
implementation (plain Python callables), handy in tests and for embedding va
in a program. The MCP layer implements the same interface.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

from voice_agent_cli.contracts.messages import ToolCall, ToolResult, ToolSpec


@runtime_checkable
class ToolProvider(Protocol):
    """A source of tools: their specs, and a way to call them."""

    def specs(self) -> Sequence[ToolSpec]:
        """The tools offered to the LLM right now."""
        ...

    async def call(self, call: ToolCall) -> ToolResult:
        """Run one call. Failures come back as ``ToolResult(is_error=True)``, never raised."""
        ...


ToolFunction = Callable[..., Any] | Callable[..., Awaitable[Any]]


@dataclass(frozen=True)
class _Registered:
    spec: ToolSpec
    function: ToolFunction


class FunctionTools:
    """Tools backed by Python functions called with the LLM's arguments as keywords."""

    def __init__(self) -> None:
        self._tools: dict[str, _Registered] = {}

    def add(
        self,
        function: ToolFunction,
        *,
        name: str | None = None,
        description: str | None = None,
        parameters: dict[str, Any] | None = None,
    ) -> None:
        """Register ``function``; name and description default to its own."""
        spec = ToolSpec(
            name=name or function.__name__,
            description=description or inspect.getdoc(function) or "",
            parameters=parameters or {"type": "object", "properties": {}},
        )
        self._tools[spec.name] = _Registered(spec, function)

    def specs(self) -> list[ToolSpec]:
        """Every registered tool."""
        return [tool.spec for tool in self._tools.values()]

    async def call(self, call: ToolCall) -> ToolResult:
        """Call the function; its exceptions become error results the LLM can read."""
        tool = self._tools.get(call.name)
        if tool is None:
            return ToolResult(f"unknown tool {call.name!r}", is_error=True)
        try:
            value = tool.function(**call.arguments)
            if inspect.isawaitable(value):
                value = await value
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            return ToolResult(f"{type(exc).__name__}: {exc}", is_error=True)
        if isinstance(value, ToolResult):
            return value
        if isinstance(value, dict):
            return ToolResult(str(value), structured=value)
        return ToolResult(str(value))

"""Every MCP server of a profile behind one :class:`~voice_agent_cli.tools.base.ToolProvider`.

:class:`MCPTools` starts the enabled servers of an ``[mcp]`` section in
parallel, offers their tools to the LLM under namespaced names
(``server__tool``), routes each call to its server, and reports every
server's health. One server failing (missing, crashing, hanging, talking
garbage) only ever costs that server's tools.

Usage::

    async with MCPTools(settings.profile.mcp) as tools:
        agent = Agent(llm, options, tools=tools)
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass
from types import TracebackType
from typing import TYPE_CHECKING, Any

from voice_agent_cli.contracts.messages import ToolCall, ToolResult, ToolSpec
from voice_agent_cli.errors import ToolServerUnavailable, UsageError
from voice_agent_cli.resilience import BreakerPolicy, CircuitBreakers
from voice_agent_cli.tools.connection import RemoteTool, ServerConnection
from voice_agent_cli.tools.health import HealthState
from voice_agent_cli.tools.launch import describe_target
from voice_agent_cli.tools.names import QualifiedName, ToolNames
from voice_agent_cli.tools.settings import MCPSettings

if TYPE_CHECKING:
    from voice_agent_cli.config import Profile


@dataclass(frozen=True)
class ToolInfo:
    """One tool as ``va tools list`` shows it."""

    server: str
    tool: str
    name: str
    description: str
    parameters: dict[str, Any]

    @property
    def qualified(self) -> str:
        """``SERVER.TOOL``, the name people type."""
        return f"{self.server}.{self.tool}"

    def as_json(self) -> dict[str, Any]:
        """The tool as ``va tools list --json`` prints it."""
        return asdict(self)


@dataclass(frozen=True)
class ServerStatus:
    """One server as ``va tools health`` shows it (never a secret: no env, no headers)."""

    server: str
    transport: str
    target: str
    state: HealthState
    tools: int
    startup_ms: float | None
    probe_ms: float | None
    restarts: int
    calls: int
    failures: int
    last_error: str | None
    next_restart_in_s: float | None

    def as_json(self) -> dict[str, Any]:
        """The status as ``va tools health --json`` prints it."""
        return {**asdict(self), "state": str(self.state)}


class MCPTools:
    """The tools of several MCP servers, namespaced, with per-server isolation and health."""

    def __init__(
        self,
        settings: MCPSettings,
        *,
        environ: Mapping[str, str] | None = None,
        only: Iterable[str] | None = None,
        breakers: CircuitBreakers | None = None,
        breaker_policy: BreakerPolicy = BreakerPolicy(failure_threshold=3, recovery_s=60.0),
    ) -> None:
        self.settings = settings
        wanted = set(only) if only is not None else None
        breakers = breakers if breakers is not None else CircuitBreakers()
        self._connections = {
            name: ServerConnection(
                name,
                server,
                settings,
                environ=os.environ if environ is None else environ,
                breaker=breakers.get(f"mcp:{name}", breaker_policy),
                on_tools_changed=self._rebuild,
            )
            for name, server in settings.enabled_servers().items()
            if wanted is None or name in wanted
        }
        self._names = ToolNames([])
        self._specs: list[ToolSpec] = []
        self._infos: list[ToolInfo] = []

    @classmethod
    def for_profile(
        cls,
        profile: Profile,
        *,
        environ: Mapping[str, str] | None = None,
        only: Iterable[str] | None = None,
        breakers: CircuitBreakers | None = None,
    ) -> MCPTools:
        """The servers of ``profile``, each with an ``mcp:NAME`` breaker of its policy."""
        policy = profile.resilience.mcp_breaker
        return cls(
            profile.mcp,
            environ=environ,
            only=only,
            breakers=breakers,
            breaker_policy=BreakerPolicy(policy.failure_threshold, policy.recovery_s),
        )

    async def __aenter__(self) -> MCPTools:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Start every server at once; returns when each is up or has failed its first try.

        The SDK's client is imported first (about a second of CPU, once): each
        server's start-up timeout then measures the server, not va's imports.
        """
        if self._connections:
            import mcp.client.stdio  # noqa: F401
        try:
            await asyncio.gather(*(c.start() for c in self._connections.values()))
        except BaseException:
            await self.aclose()
            raise

    async def aclose(self) -> None:
        """Stop every server."""
        await asyncio.gather(*(c.aclose() for c in self._connections.values()))

    # -- the ToolProvider interface --------------------------------------------

    def specs(self) -> list[ToolSpec]:
        """The tools offered to the LLM now (servers that are down offer their last listing)."""
        return list(self._specs)

    async def call(self, call: ToolCall) -> ToolResult:
        """Run one call on its server; every failure comes back as an error result."""
        qualified = self._names.qualified(call.name)
        if qualified is None or qualified.server not in self._connections:
            return ToolResult(f"unknown tool {call.name!r}", is_error=True)
        arguments = call.arguments if isinstance(call.arguments, dict) else {}
        return await self._connections[qualified.server].call(qualified.tool, arguments)

    # -- for the CLI -----------------------------------------------------------

    def tools(self) -> list[ToolInfo]:
        """Every tool of every server, in profile order."""
        return list(self._infos)

    def resolve(self, name: str) -> QualifiedName:
        """The tool ``SERVER.TOOL`` names, or a :class:`UsageError` saying what exists."""
        wanted = QualifiedName.parse(name)
        connection = self._connections.get(wanted.server)
        if connection is None:
            known = ", ".join(self._connections) or "none"
            raise UsageError(f"unknown MCP server {wanted.server!r} (servers: {known})")
        if not connection.up and not connection.tools:
            reason = connection.health.last_error or "it has not started yet"
            raise ToolServerUnavailable(f"MCP server {wanted.server!r} is down: {reason}")
        if all(tool.name != wanted.tool for tool in connection.tools):
            names = ", ".join(tool.name for tool in connection.tools) or "none"
            raise UsageError(
                f"MCP server {wanted.server!r} has no tool {wanted.tool!r} (tools: {names})"
            )
        return wanted

    async def call_tool(self, name: QualifiedName, arguments: dict[str, Any]) -> ToolResult:
        """Call a tool by its qualified name."""
        return await self.call(ToolCall(id="cli", name=self._names.llm(name), arguments=arguments))

    async def probe(self) -> None:
        """Check every connected server now, in parallel (see :meth:`ServerConnection.probe`)."""
        await asyncio.gather(*(c.probe() for c in self._connections.values()))

    def health(self) -> list[ServerStatus]:
        """Every server of the profile, disabled ones included."""
        statuses: list[ServerStatus] = []
        for name, server in self.settings.servers.items():
            connection = self._connections.get(name)
            if connection is None and server.enabled:
                continue  # left out with ``only``
            health = connection.health if connection else None
            statuses.append(
                ServerStatus(
                    server=name,
                    transport=server.transport,
                    target=describe_target(server),
                    state=health.state if health else HealthState.DISABLED,
                    tools=len(connection.tools) if connection else 0,
                    startup_ms=health.startup_ms if health else None,
                    probe_ms=health.probe_ms if health else None,
                    restarts=health.restarts if health else 0,
                    calls=health.calls if health else 0,
                    failures=health.failures if health else 0,
                    last_error=health.last_error if health else None,
                    next_restart_in_s=health.next_restart_in_s if health else None,
                )
            )
        return statuses

    def connection(self, name: str) -> ServerConnection:
        """The connection to server ``name`` (for tests and benchmarks)."""
        return self._connections[name]

    # -- internals -------------------------------------------------------------

    def _rebuild(self) -> None:
        """Recompute names and specs after a server's tool list changed."""
        listed: list[tuple[str, RemoteTool]] = [
            (server, tool)
            for server, connection in self._connections.items()
            for tool in connection.tools
        ]
        self._names = ToolNames(QualifiedName(server, tool.name) for server, tool in listed)
        self._infos = []
        self._specs = []
        for server, tool in listed:
            name = self._names.llm(QualifiedName(server, tool.name))
            description = tool.description or f"{tool.name} (a tool of {server})"
            self._infos.append(ToolInfo(server, tool.name, name, description, tool.parameters))
            self._specs.append(ToolSpec(name, description, tool.parameters))

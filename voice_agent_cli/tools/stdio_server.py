"""A small MCP server over stdio, on the standard library alone, for va's own tools.

Why not the ``mcp`` SDK's server: importing the SDK costs about a second of
CPU, and va starts its own server on every ``va chat``, ``va talk`` and
``va tools call``. On a busy 2-core machine (six ``va tools call`` at once, a
model loading next door) that second stretched past the start-up timeout and
calls were lost. This module imports ``json`` and ``sys``: the server is
ready in the time Python takes to start.

What it speaks is the part of MCP a tools-only server needs, as the SDK's own
client expects it (the tests drive it with that client):

- newline-delimited JSON-RPC 2.0 on stdin/stdout; diagnostics go to stderr;
- ``initialize`` (protocol versions 2024-11-05 to 2025-11-25: the client's if
  known, else the newest), ``ping``, ``tools/list``, ``tools/call``;
- notifications (``notifications/initialized``, ``notifications/cancelled``)
  need no answer; every call here finishes in milliseconds;
- a malformed line gets a JSON-RPC error (-32700, -32600), an unknown method
  -32601; bad tool arguments and failing tools are tool errors
  (``isError``), as MCP asks, so the model can read and fix them.

The server answers one request at a time, in order: va's tools are quick
(the slowest waits on the notes database lock) and ordering keeps it simple.
"""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Callable, Iterable
from contextlib import suppress
from dataclasses import dataclass, field
from typing import Any, BinaryIO, TextIO

from voice_agent_cli.text import clean_text

#: Protocol revisions reachable with the ``initialize`` handshake, oldest first.
PROTOCOL_VERSIONS = ("2024-11-05", "2025-03-26", "2025-06-18", "2025-11-25")

PARSE_ERROR = -32700
INVALID_REQUEST = -32600
METHOD_NOT_FOUND = -32601
INVALID_PARAMS = -32602


@dataclass(frozen=True)
class ToolAnswer:
    """What a tool returns: a sentence, the same facts as data, and whether it refused."""

    text: str
    structured: dict[str, Any] | None = None
    is_error: bool = False


@dataclass(frozen=True)
class Tool:
    """One tool: its MCP description and the function that runs it with checked arguments."""

    name: str
    description: str
    input_schema: dict[str, Any]
    run: Callable[..., ToolAnswer]
    annotations: dict[str, bool] = field(default_factory=dict)

    def listing(self) -> dict[str, Any]:
        """The tool as ``tools/list`` describes it."""
        described: dict[str, Any] = {
            "name": self.name,
            "description": self.description,
            "inputSchema": self.input_schema,
        }
        if self.annotations:
            described["annotations"] = self.annotations
        return described


class ArgumentError(ValueError):
    """Arguments that do not fit a tool's schema (told to the model as a tool error)."""


def check_arguments(schema: dict[str, Any], arguments: Any) -> dict[str, Any]:
    """``arguments`` checked against the small JSON-schema subset va's tools use.

    Objects with typed properties (string, integer, number, boolean, null or a
    union of them), ``required``, ``minimum``/``maximum`` and defaults.
    Integers written as numeric strings or whole floats are accepted, as a
    model often sends them; unknown properties are ignored.
    """
    if arguments is None:
        arguments = {}
    if not isinstance(arguments, dict):
        raise ArgumentError("the arguments must be a JSON object")
    properties: dict[str, Any] = schema.get("properties", {})
    checked: dict[str, Any] = {}
    for name in schema.get("required", []):
        if arguments.get(name) is None:
            raise ArgumentError(f"missing required argument {name!r}")
    for name, spec in properties.items():
        if name in arguments:
            checked[name] = _check_value(name, spec, arguments[name])
        elif "default" in spec:
            checked[name] = spec["default"]
    return checked


def _check_value(name: str, spec: dict[str, Any], value: Any) -> Any:
    kinds = spec.get("type")
    allowed = [kinds] if isinstance(kinds, str) else list(kinds or [])
    for option in spec.get("anyOf", []):
        allowed.append(option.get("type"))
    for kind in allowed:
        converted = _as_kind(kind, value)
        if converted is not _MISMATCH:
            break
    else:
        wanted = " or ".join(str(kind) for kind in allowed) or "a value"
        raise ArgumentError(f"argument {name!r} must be {wanted}, not {json.dumps(value)[:40]}")
    if isinstance(converted, int | float) and not isinstance(converted, bool):
        if "minimum" in spec and converted < spec["minimum"]:
            raise ArgumentError(f"argument {name!r} must be at least {spec['minimum']}")
        if "maximum" in spec and converted > spec["maximum"]:
            raise ArgumentError(f"argument {name!r} must be at most {spec['maximum']}")
    return converted


_MISMATCH = object()


def _as_kind(kind: str | None, value: Any) -> Any:
    if kind == "string":
        # Decoded once, here: JSON may carry lone surrogates ("\\ud800").
        return clean_text(value) if isinstance(value, str) else _MISMATCH
    if kind == "null":
        return None if value is None else _MISMATCH
    if kind == "boolean":
        return value if isinstance(value, bool) else _MISMATCH
    if kind == "integer":
        if isinstance(value, bool):
            return _MISMATCH
        if isinstance(value, int):
            return value
        if isinstance(value, float) and value.is_integer():
            return int(value)
        if isinstance(value, str) and value.strip().lstrip("+-").isdigit():
            return int(value)
        return _MISMATCH
    if kind == "number":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return value
        return _MISMATCH
    return _MISMATCH


class StdioServer:
    """An MCP server for ``tools`` on stdin/stdout (see the module doc for what it speaks)."""

    def __init__(
        self, name: str, version: str, tools: Iterable[Tool], *, instructions: str = ""
    ) -> None:
        self.name = name
        self.version = version
        self.instructions = instructions
        self.tools = {tool.name: tool for tool in tools}

    def handle(self, line: bytes | str) -> dict[str, Any] | None:
        """The answer to one line from the client, or ``None`` for a notification."""
        try:
            message = json.loads(line)
        except (ValueError, RecursionError):
            return _error(None, PARSE_ERROR, "not a JSON-RPC message (not JSON)")
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return _error(None, INVALID_REQUEST, "not a JSON-RPC 2.0 message")
        method = message.get("method")
        request_id = message.get("id")
        if not isinstance(method, str):
            return None  # a response to a request we never sent: nothing to say
        if "id" not in message:
            return None  # a notification
        params = message.get("params") or {}
        if not isinstance(params, dict):
            return _error(request_id, INVALID_PARAMS, "params must be an object")
        if method == "initialize":
            return _result(request_id, self._initialize(params))
        if method == "ping":
            return _result(request_id, {})
        if method == "tools/list":
            return _result(request_id, {"tools": [tool.listing() for tool in self.tools.values()]})
        if method == "tools/call":
            return self._call(request_id, params)
        return _error(request_id, METHOD_NOT_FOUND, f"method not found: {method}")

    def serve(self, reader: BinaryIO, writer: TextIO) -> None:
        """Answer lines from ``reader`` on ``writer`` until the client closes the input."""
        for line in reader:
            if not line.strip():
                continue
            answer = self.handle(line)
            if answer is not None:
                writer.write(json.dumps(answer, ensure_ascii=False) + "\n")
                writer.flush()

    def run(self) -> None:
        """Serve on this process's stdin and stdout.

        The protocol gets a private copy of stdout; ``sys.stdout`` is pointed
        at stderr, so nothing a tool prints can corrupt the stream.
        """
        protocol = os.fdopen(os.dup(sys.stdout.fileno()), "w", encoding="utf-8", errors="replace")
        sys.stdout = sys.stderr
        try:
            self.serve(sys.stdin.buffer, protocol)
        except (KeyboardInterrupt, BrokenPipeError):
            pass
        finally:
            with suppress(OSError):
                protocol.close()

    # -- requests ----------------------------------------------------------------

    def _initialize(self, params: dict[str, Any]) -> dict[str, Any]:
        wanted = params.get("protocolVersion")
        version = wanted if wanted in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[-1]
        result: dict[str, Any] = {
            "protocolVersion": version,
            "capabilities": {"tools": {"listChanged": False}},
            "serverInfo": {"name": self.name, "version": self.version},
        }
        if self.instructions:
            result["instructions"] = self.instructions
        return result

    def _call(self, request_id: Any, params: dict[str, Any]) -> dict[str, Any]:
        name = params.get("name")
        tool = self.tools.get(name) if isinstance(name, str) else None
        if tool is None:
            return _error(request_id, INVALID_PARAMS, f"unknown tool: {name}")
        try:
            arguments = check_arguments(tool.input_schema, params.get("arguments"))
            answer = tool.run(**arguments)
        except ArgumentError as exc:
            answer = ToolAnswer(f"{tool.name}: {exc}", is_error=True)
        except Exception as exc:  # a tool's bug is the model's tool error, never a dead server
            answer = ToolAnswer(f"{tool.name} failed: {type(exc).__name__}: {exc}", is_error=True)
        result: dict[str, Any] = {
            "content": [{"type": "text", "text": answer.text}],
            "isError": answer.is_error,
        }
        if answer.structured is not None:
            result["structuredContent"] = answer.structured
        return _result(request_id, result)


def _result(request_id: Any, result: dict[str, Any]) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "result": result}


def _error(request_id: Any, code: int, message: str) -> dict[str, Any]:
    return {"jsonrpc": "2.0", "id": request_id, "error": {"code": code, "message": message}}

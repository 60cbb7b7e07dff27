"""The boundary with the ``mcp`` SDK: its results and exceptions, in va's terms.

:func:`to_tool_result` turns a ``CallToolResult`` into the
:class:`~voice_agent_cli.contracts.messages.ToolResult` the agent feeds back to the
LLM; :func:`describe_failure` turns any exception the SDK, anyio or a broken
server can raise into a :class:`Failure`: a one-line reason, and whether the
server (not the call) is at fault.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import anyio
from pydantic import ValidationError

from voice_agent_cli.contracts.messages import ToolResult

#: The LLM gets at most this much text from one call (a runaway tool must not
#: fill the context window).
MAX_RESULT_CHARS = 16000


@dataclass(frozen=True)
class Failure:
    """Why a request to a server failed.

    ``server_fault`` failures count against the server's health;
    ``connection_lost`` ones mean the process or session is gone.
    """

    reason: str
    server_fault: bool = True
    connection_lost: bool = False


def to_tool_result(result: Any) -> ToolResult:
    """A ``CallToolResult`` as text, structured content and the error flag."""
    parts = [_content_text(block) for block in getattr(result, "content", None) or []]
    text = "\n".join(part for part in parts if part)
    structured = getattr(result, "structured_content", None)
    if structured is not None and not isinstance(structured, dict):
        structured = {"result": structured}
    if not text and structured is not None:
        text = json.dumps(structured, ensure_ascii=False, default=str)
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f"\n[... {len(text) - MAX_RESULT_CHARS} more characters]"
    is_error = bool(getattr(result, "is_error", False))
    if is_error and not text:
        text = "the tool reported an error"
    return ToolResult(text, is_error=is_error, structured=structured)


def _content_text(block: Any) -> str:
    kind = getattr(block, "type", None)
    if kind == "text":
        return str(block.text)
    if kind in ("image", "audio"):
        size = len(getattr(block, "data", "") or "") * 3 // 4
        return f"[{kind}: {getattr(block, 'mime_type', None) or 'unknown type'}, {size} bytes]"
    if kind == "resource":
        resource = block.resource
        text = getattr(resource, "text", None)
        return str(text) if text is not None else f"[resource: {resource.uri}]"
    if kind == "resource_link":
        return f"[resource: {getattr(block, 'name', '')} {block.uri}]".replace("  ", " ")
    return f"[{kind or 'unknown'} content]"


def describe_failure(exc: BaseException) -> Failure:
    """Translate a foreign exception from a request into a :class:`Failure`."""
    from mcp import MCPError
    from mcp_types import CONNECTION_CLOSED, REQUEST_TIMEOUT

    exc = _leaf(exc)
    if isinstance(exc, TimeoutError):
        return Failure("timed out")
    if isinstance(exc, MCPError):
        if exc.code == CONNECTION_CLOSED:
            return Failure("the connection to the server was lost", connection_lost=True)
        if exc.code == REQUEST_TIMEOUT:
            return Failure("timed out")
        # A protocol-level refusal (unknown tool, bad arguments): the server is fine.
        return Failure(f"the server refused the request: {_one_line(exc.error.message)}", False)
    if isinstance(exc, ValidationError):
        return Failure("the server sent a malformed response")
    if isinstance(exc, anyio.BrokenResourceError | anyio.ClosedResourceError | anyio.EndOfStream):
        return Failure("the connection to the server was lost", connection_lost=True)
    if isinstance(exc, FileNotFoundError):
        return Failure(f"command not found: {exc.filename or exc}", connection_lost=True)
    if isinstance(exc, PermissionError):
        return Failure(f"command not executable: {exc.filename or exc}", connection_lost=True)
    if isinstance(exc, ConnectionError | OSError):
        return Failure(f"cannot reach the server ({type(exc).__name__})", connection_lost=True)
    if _is_http_error(exc):
        return Failure(f"cannot reach the server ({type(exc).__name__})", connection_lost=True)
    if isinstance(exc, RuntimeError):
        # The server answered, but with something unusable: a result that breaks its
        # own output schema, or a request for user input (which va does not offer).
        return Failure(f"unusable answer: {_one_line(str(exc))}", server_fault=False)
    return Failure(f"failed unexpectedly ({type(exc).__name__})")


def _leaf(exc: BaseException) -> BaseException:
    """The first real error inside (possibly nested) exception groups."""
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def _is_http_error(exc: BaseException) -> bool:
    # httpx2 is only imported by the HTTP transport; match by module, not by import.
    return type(exc).__module__.split(".")[0] in ("httpx2", "httpx", "httpcore")


def _one_line(text: str, limit: int = 200) -> str:
    line = " ".join(text.split())
    return line if len(line) <= limit else line[: limit - 3] + "..."

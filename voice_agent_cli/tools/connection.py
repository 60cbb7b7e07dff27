"""One MCP server: started, listed, called, watched, and restarted when it dies.

A :class:`ServerConnection` owns one supervisor task. The SDK's client is an
anyio context manager that must be entered and left by the same task, so the
supervisor holds it for the whole life of a connection: it connects, lists the
tools, re-lists them when the server announces a change, notices when the
connection ends, and restarts the server with exponential backoff. Calls come
from other tasks and share the connection (the SDK multiplexes them).

Nothing here raises to the caller: every failure becomes a
:class:`~voice_agent_cli.contracts.messages.ToolResult` with ``is_error`` set, and
counts against the server's :class:`~voice_agent_cli.tools.health.ServerHealth`.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import Callable, Mapping
from contextlib import suppress
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio

from voice_agent_cli import __version__
from voice_agent_cli.contracts.messages import ToolResult
from voice_agent_cli.errors import VAError
from voice_agent_cli.resilience import CircuitBreaker
from voice_agent_cli.tools.health import ServerHealth
from voice_agent_cli.tools.launch import launch_for
from voice_agent_cli.tools.results import Failure, describe_failure, to_tool_result
from voice_agent_cli.tools.schema import clean_schema
from voice_agent_cli.tools.settings import MCPServerSettings, MCPSettings
from voice_agent_cli.tools.transport import WatchedTransport, server_log_path

if TYPE_CHECKING:
    from mcp import Client

#: A connection that stayed up this long resets the restart backoff.
STABLE_AFTER_S = 10.0
#: How much longer than its start-up timeout a first start may keep va waiting.
START_GRACE_S = 0.5
#: Pages of tools/list read at most (a server that paginates forever must not hang us).
MAX_LIST_PAGES = 20

logger = logging.getLogger("va.tools")


class _SDKStdioNoise(logging.Filter):
    """Keeps the SDK's stdio client from printing tracebacks about a server's garbage.

    For every line on a server's stdout that is not JSON-RPC, ``mcp.client.stdio``
    logs a pydantic traceback. The line also reaches the connection's message
    handler, which says it once, naming the server; the SDK's records are
    dropped. Its other records keep their one-line message, without a traceback.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        if record.getMessage().startswith("Failed to parse JSONRPC message"):
            return False
        record.exc_info = None
        record.exc_text = None
        return True


_stdio_logger = logging.getLogger("mcp.client.stdio")
if not any(isinstance(f, _SDKStdioNoise) for f in _stdio_logger.filters):
    _stdio_logger.addFilter(_SDKStdioNoise())
# With no handler configured at all, Python's last-resort handler would print the
# SDK's warnings into the user's terminal; health and va's own warning say it.
for _name in ("mcp", "client"):
    logging.getLogger(_name).addHandler(logging.NullHandler())


@dataclass(frozen=True)
class RemoteTool:
    """A tool as a server lists it, with its argument schema cleaned for LLMs."""

    name: str
    description: str
    parameters: dict[str, Any]
    read_only: bool | None = None


class ServerConnection:
    """The connection to one MCP server, kept alive for as long as va runs."""

    def __init__(
        self,
        name: str,
        settings: MCPServerSettings,
        policy: MCPSettings,
        *,
        environ: Mapping[str, str],
        breaker: CircuitBreaker | None = None,
        on_tools_changed: Callable[[], None] | None = None,
    ) -> None:
        self.name = name
        self.settings = settings
        self.policy = policy
        self.environ = environ
        self.on_tools_changed = on_tools_changed
        self.health = ServerHealth(breaker or CircuitBreaker(f"mcp:{name}"))
        self.tools: tuple[RemoteTool, ...] = ()
        self.bad_messages = 0
        self._warned_garbage = False
        self._client: Client | None = None
        self._task: asyncio.Task[None] | None = None
        self._scope: anyio.CancelScope | None = None
        self._first_attempt = asyncio.Event()
        self._up = asyncio.Event()
        self._wake = asyncio.Event()
        self._stopping = asyncio.Event()
        self._lost_reason: str | None = None
        self._relist = False
        #: Which connection is current: signals from an older one are ignored.
        self._generation = 0

    # -- life cycle ------------------------------------------------------------

    async def start(self) -> None:
        """Start the supervisor and wait for the first attempt to end (up, or why not).

        Bounded by the start-up timeout: a server that ignores the request to
        exit after a failed start (the SDK gives it a few seconds) keeps no one waiting.
        """
        if self._task is None:
            self._task = asyncio.create_task(self._supervise(), name=f"mcp-server-{self.name}")
        with suppress(TimeoutError):
            async with asyncio.timeout(self.settings.startup_timeout_s + START_GRACE_S):
                await self._first_attempt.wait()
        if not self._first_attempt.is_set():
            # The supervisor is still trying: say why the server is not up yet, in words.
            self.health.record_slow_start(self._slow_start_reason())

    def _slow_start_reason(self) -> str:
        reason = f"did not finish starting within {self.settings.startup_timeout_s:g} s"
        if self.bad_messages:
            reason += f" (it wrote {self.bad_messages} lines of non-MCP output on stdout)"
        return reason

    async def aclose(self) -> None:
        """Stop the server (its process exits cleanly) and the supervisor."""
        self._stopping.set()
        self._wake.set()
        if self._scope is not None:
            self._scope.cancel()
        if self._task is not None:
            await self._task
            self._task = None

    @property
    def up(self) -> bool:
        """Connected right now."""
        return self._client is not None

    async def wait_up(self, timeout_s: float) -> bool:
        """Wait up to ``timeout_s`` for the server to be connected."""
        if self.up:
            return True
        with suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, timeout_s)):
                await self._up.wait()
        return self.up

    async def probe(self) -> float | None:
        """Ask the server for its tools now: the round trip in ms, or ``None`` if it failed.

        A liveness check for ``va tools health`` (MCP's ping is deprecated); it
        counts against the server's health like a call, and refreshes the tools.
        """
        client = self._client
        if client is None:
            return None
        began = time.perf_counter()
        try:
            with anyio.fail_after(self.settings.timeout_s):
                tools = await self._list_tools(client)
        except TimeoutError:
            reason = f"tools/list timed out after {self.settings.timeout_s:g} s"
            self.health.record_failure(reason, call=False)
            return None
        except Exception as exc:
            failure = describe_failure(exc)
            self.health.record_failure(failure.reason, call=False)
            if failure.connection_lost and self._client is client:
                self._connection_lost(failure.reason, self._generation)
            return None
        self._set_tools(tools)
        self.health.record_success(call=False)
        self.health.probe_ms = round((time.perf_counter() - began) * 1000, 1)
        return self.health.probe_ms

    # -- calls -----------------------------------------------------------------

    async def call(self, tool: str, arguments: dict[str, Any]) -> ToolResult:
        """Call ``tool``; retried once after a lost connection only if it is idempotent."""
        timeout_s = self.settings.timeout_s
        deadline = time.monotonic() + timeout_s
        attempts = 2 if self.settings.is_idempotent(tool) else 1
        failure = Failure("not called")
        for attempt in range(attempts):
            result, failure = await self._call_once(tool, arguments, deadline - time.monotonic())
            if result is not None:
                return result
            if not failure.connection_lost or attempt + 1 == attempts:
                break
            # Idempotent: the restart is worth waiting for, within the same time budget.
            if not await self.wait_up(deadline - time.monotonic()):
                break
        return ToolResult(f"{self.name}.{tool} failed: {failure.reason}", is_error=True)

    async def _call_once(
        self, tool: str, arguments: dict[str, Any], timeout_s: float
    ) -> tuple[ToolResult | None, Failure]:
        client = self._client
        if client is None:
            return None, Failure(self._down_reason(), server_fault=False, connection_lost=True)
        if not self.health.admit():
            reason = (
                f"circuit open after {self.health.consecutive_failures} failures in a row "
                f"(last: {self.health.last_error}); next try in {self.health.retry_in_s():.0f} s"
            )
            return None, Failure(reason, server_fault=False)
        try:
            with anyio.fail_after(max(0.001, timeout_s)):
                raw = await client.call_tool(tool, arguments)
        except TimeoutError:
            # Leaving the scope cancelled the request: the SDK sent notifications/cancelled.
            failure = Failure(f"timed out after {self.settings.timeout_s:g} s")
        except Exception as exc:
            failure = describe_failure(exc)
        else:
            self.health.record_success()
            return to_tool_result(raw), Failure("")
        if failure.server_fault:
            self.health.record_failure(failure.reason)
        else:
            self.health.record_success()
        if failure.connection_lost and self._client is client:
            self._connection_lost(failure.reason, self._generation)
        return None, failure

    def _down_reason(self) -> str:
        reason = f"the server is down ({self.health.last_error or 'not started'})"
        retry = self.health.next_restart_in_s
        return f"{reason}; restarting in {retry:.1f} s" if retry is not None else reason

    # -- the supervisor ----------------------------------------------------------

    async def _supervise(self) -> None:
        attempt = 0
        try:
            while not self._stopping.is_set():
                try:
                    reason, up_for_s = await self._run_once()
                except Exception as exc:  # a bug or an SDK surprise must not end supervision
                    reason, up_for_s = describe_failure(exc).reason, None
                if self._stopping.is_set():
                    break
                if up_for_s is not None and up_for_s >= STABLE_AFTER_S:
                    attempt = 0
                delay = min(
                    self.policy.restart_backoff_max_s, self.policy.restart_backoff_s * 2**attempt
                )
                attempt += 1
                self.health.record_disconnected(reason, retry_in_s=delay)
                self._first_attempt.set()
                with suppress(TimeoutError):
                    async with asyncio.timeout(delay):
                        await self._stopping.wait()
        finally:
            self._first_attempt.set()

    async def _run_once(self) -> tuple[str, float | None]:
        """One connection, from start to end; returns why it ended and how long it was up."""
        from mcp import Client, Implementation

        try:
            launch = launch_for(self.name, self.settings, self.environ)
        except VAError as exc:
            return str(exc), None
        self._generation += 1
        generation = self._generation
        self._lost_reason = None
        self._relist = False
        self.bad_messages = 0
        began = time.perf_counter()
        connected_at: float | None = None
        reason = "the connection ended"
        transport = WatchedTransport(
            self.name,
            launch,
            lambda: self._connection_lost("the server closed the connection", generation),
        )
        with anyio.CancelScope() as scope:
            self._scope = scope
            if self._stopping.is_set():
                scope.cancel()
            scope.deadline = anyio.current_time() + self.settings.startup_timeout_s
            try:
                async with Client(
                    transport,
                    mode="legacy",  # the initialize handshake: what today's servers speak
                    cache=None,  # tools/list must always ask the server
                    message_handler=self._on_message,
                    client_info=Implementation(name="va", version=__version__),
                ) as client:
                    self._set_tools(await self._list_tools(client))
                    scope.deadline = math.inf
                    connected_at = time.perf_counter()
                    self._client = client
                    self.health.record_connected((connected_at - began) * 1000)
                    self._up.set()
                    self._first_attempt.set()
                    reason = await self._serve(client)
            except Exception as exc:
                reason = describe_failure(exc).reason
            finally:
                self._client = None
                self._up.clear()
                self._scope = None
        if scope.cancelled_caught and connected_at is None and not self._stopping.is_set():
            reason = self._slow_start_reason()
        if connected_at is None and transport.spawned:
            reason += f"; its log: {server_log_path(self.name)}"
        up_for = time.perf_counter() - connected_at if connected_at is not None else None
        return reason, up_for

    async def _serve(self, client: Client) -> str:
        """Hold the connection until it ends, re-listing tools when the server says so."""
        while True:
            await self._wake.wait()
            self._wake.clear()
            if self._stopping.is_set():
                return "stopped"
            if self._lost_reason is not None:
                return self._lost_reason
            if self._relist:
                self._relist = False
                try:
                    with anyio.fail_after(self.settings.startup_timeout_s):
                        self._set_tools(await self._list_tools(client))
                except Exception as exc:
                    self.health.last_error = (
                        f"re-listing tools failed: {describe_failure(exc).reason}"
                    )

    async def _list_tools(self, client: Client) -> tuple[RemoteTool, ...]:
        tools: list[RemoteTool] = []
        cursor: str | None = None
        for _ in range(MAX_LIST_PAGES):
            page = await client.list_tools(cursor=cursor)
            for tool in page.tools:
                annotations = tool.annotations
                tools.append(
                    RemoteTool(
                        name=tool.name,
                        description=" ".join((tool.description or tool.title or "").split()),
                        parameters=clean_schema(tool.input_schema),
                        read_only=annotations.read_only_hint if annotations else None,
                    )
                )
            cursor = page.next_cursor
            if cursor is None:
                break
        return tuple(tools)

    def _set_tools(self, tools: tuple[RemoteTool, ...]) -> None:
        if tools != self.tools:
            self.tools = tools
            if self.on_tools_changed is not None:
                self.on_tools_changed()

    # -- signals from the SDK (called inside its read loop: must not block) -------

    async def _on_message(self, message: Any) -> None:
        if isinstance(message, Exception):
            # A line on stdout that is not JSON-RPC: garbage from a broken server.
            self.bad_messages += 1
            if self._client is not None:  # during start-up, the start-up failure says it
                self.health.last_error = "the server wrote non-MCP output on stdout"
            if not self._warned_garbage:
                self._warned_garbage = True
                logger.warning(
                    "MCP server %r wrote something that is not MCP on its stdout "
                    "(ignored; a server must keep its stdout for the protocol)",
                    self.name,
                )
            return
        if getattr(message, "method", None) == "notifications/tools/list_changed":
            self._relist = True
            self._wake.set()

    def _connection_lost(self, reason: str, generation: int) -> None:
        if generation == self._generation and self._lost_reason is None:
            self._lost_reason = reason
            # No new call may pick the dying client while the supervisor winds it down.
            self._client = None
            self._up.clear()
            self._wake.set()

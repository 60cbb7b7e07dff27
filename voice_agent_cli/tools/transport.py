"""Transports to MCP servers that say when the connection ends.

The SDK's ``ClientSession`` keeps quiet when a stdio server exits: pending
requests fail, but nothing tells the owner that the connection is gone. The
transports here wrap the SDK's own (``stdio_client``, ``streamable_http_client``)
and call ``on_closed`` as soon as the read stream ends, so a dead server is
restarted right away rather than on the next call.

A stdio server's stderr goes to ``VA_HOME/logs/mcp/<server>.log``: a third-party
server's chatter must not land in the user's terminal, but stays readable.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from contextlib import AsyncExitStack
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, TextIO

from voice_agent_cli.paths import open_private, va_home
from voice_agent_cli.tools.launch import HttpLaunch, Launch, StdioLaunch

if TYPE_CHECKING:
    from mcp.client._transport import TransportStreams

#: A server log over this size is started afresh rather than appended to.
MAX_LOG_BYTES = 1_000_000


def server_log_path(server: str) -> Path:
    """Where the stderr of stdio server ``server`` is kept."""
    return va_home() / "logs" / "mcp" / f"{server}.log"


class _WatchedReadStream:
    """A read stream that reports its end (EOF, or closed under the reader)."""

    def __init__(self, inner: Any, on_closed: Callable[[], None]) -> None:
        self._inner = inner
        self._on_closed = on_closed

    def __getattr__(self, name: str) -> Any:
        # e.g. ``last_context``, which the dispatcher looks up with getattr().
        return getattr(self._inner, name)

    async def receive(self) -> Any:
        try:
            return await self._inner.receive()
        except Exception:
            self._on_closed()
            raise

    def __aiter__(self) -> _WatchedReadStream:
        return self

    async def __anext__(self) -> Any:
        try:
            return await self._inner.__anext__()
        except (StopAsyncIteration, Exception):
            self._on_closed()
            raise

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def __aenter__(self) -> _WatchedReadStream:
        await self._inner.__aenter__()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        result: bool | None = await self._inner.__aexit__(exc_type, exc, tb)
        return result


class WatchedTransport:
    """An MCP client transport for ``launch`` that calls ``on_closed`` when it ends.

    Usable once, as the SDK's transports are: ``Client(WatchedTransport(...))``.
    """

    def __init__(self, server: str, launch: Launch, on_closed: Callable[[], None]) -> None:
        self.server = server
        self.launch = launch
        self.on_closed = on_closed
        #: The server process was started (so its log may say why it failed).
        self.spawned = False
        self._stack = AsyncExitStack()

    async def __aenter__(self) -> TransportStreams:
        try:
            if isinstance(self.launch, StdioLaunch):
                read, write = await self._open_stdio(self.launch)
            else:
                read, write = await self._open_http(self.launch)
        except BaseException:
            await self._stack.aclose()
            raise
        return _WatchedReadStream(read, self.on_closed), write

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> bool | None:
        return await self._stack.__aexit__(exc_type, exc, tb)

    async def _open_stdio(self, launch: StdioLaunch) -> TransportStreams:
        from mcp.client.stdio import StdioServerParameters, stdio_client

        errlog = self._stack.enter_context(_open_log(server_log_path(self.server)))
        params = StdioServerParameters(
            command=launch.command, args=launch.args, env=launch.env, cwd=launch.cwd
        )
        streams = await self._stack.enter_async_context(stdio_client(params, errlog=errlog))
        self.spawned = True
        return streams

    async def _open_http(self, launch: HttpLaunch) -> TransportStreams:
        import httpx2
        from mcp.client.streamable_http import streamable_http_client

        # The SDK's defaults: a long read timeout, since a server may hold a stream open.
        http = await self._stack.enter_async_context(
            httpx2.AsyncClient(headers=launch.headers, timeout=httpx2.Timeout(30.0, read=300.0))
        )
        return await self._stack.enter_async_context(
            streamable_http_client(launch.url, http_client=http)
        )


def _open_log(path: Path) -> TextIO:
    too_big = path.exists() and path.stat().st_size > MAX_LOG_BYTES
    log = open_private(path, "w" if too_big else "a")
    log.write(f"--- started {time.strftime('%Y-%m-%d %H:%M:%S')} ---\n")
    log.flush()
    return log

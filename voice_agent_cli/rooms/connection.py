"""One connection to a LiveKit room: joined within a timeout, followed, and re-established.

- :meth:`RoomConnection.connect` makes one attempt bounded by our own
  timeout (the SDK's connect can hang on a half-open server); any failure is
  raised at once as a :class:`~voice_agent_cli.errors.RoomError`, so a bad
  URL or a rejected token ends ``va join`` in well under a second.
- :meth:`RoomConnection.run` then watches the room. The SDK resumes short
  outages by itself (``reconnecting`` → ``reconnected``); when it gives up
  (``disconnected``), a new room is joined after an exponential, jittered,
  capped backoff (:class:`~voice_agent_cli.rooms.backoff.ReconnectPolicy`),
  with a fresh token each time. A permanent failure stops the retries.

The room factory, the sleep and the random source are injectable: tests
drive the whole state machine with a fake room and no real waiting.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable
from typing import Any

from voice_agent_cli.errors import RoomError, RoomUnavailable, VAError
from voice_agent_cli.rooms.backoff import ReconnectPolicy
from voice_agent_cli.rooms.events import ConnectionChanged, ConnectionStateName
from voice_agent_cli.rooms.sdk import (
    FINAL_DISCONNECT_REASONS,
    RoomLike,
    disconnect_reason_name,
    is_permanent,
    new_room,
    room_options,
    translate_connect_error,
)

_logger = logging.getLogger("va.rooms")

TokenProvider = Callable[[], str]
RoomFactory = Callable[[], RoomLike]
Sleep = Callable[[float], Awaitable[None]]
RoomCallback = Callable[[RoomLike], Awaitable[None]]
StateListener = Callable[[ConnectionChanged], None]

#: Why the room ended, in words, for the reasons after which va does not reconnect.
_FINAL_MESSAGES = {
    "DUPLICATE_IDENTITY": "another participant joined with the agent's identity "
    "(is another `va join` running? use --identity)",
    "PARTICIPANT_REMOVED": "the agent was removed from the room",
    "USER_REJECTED": "the server rejected the agent",
    "CLIENT_INITIATED": "the connection was closed",
}
#: Reasons that end the session normally: the room itself is gone.
_ROOM_ENDED = frozenset({"ROOM_DELETED", "ROOM_CLOSED"})
#: How long leaving may take before we stop waiting for the server.
DISCONNECT_TIMEOUT_S = 3.0


class RoomConnection:
    """Keeps one agent connected to one room; ``async with`` leaves it on exit."""

    def __init__(
        self,
        url: str,
        room_name: str,
        tokens: TokenProvider,
        *,
        connect_timeout_s: float = 5.0,
        policy: ReconnectPolicy | None = None,
        room_factory: RoomFactory = new_room,
        options_factory: Callable[[], Any] | None = None,
        sleep: Sleep = asyncio.sleep,
        rand: Callable[[], float] = random.random,
    ) -> None:
        self.url = url
        self.room_name = room_name
        self.tokens = tokens
        self.connect_timeout_s = connect_timeout_s
        self.policy = policy
        self._factory = room_factory
        self._options_factory = options_factory or (
            lambda: room_options(connect_timeout_s=connect_timeout_s)
        )
        self._sleep = sleep
        self._rand = rand
        self.room: RoomLike | None = None
        self.state: ConnectionStateName = "disconnected"
        #: Milliseconds the last successful connection attempt took.
        self.connect_ms: float | None = None
        self.reconnects = 0
        self._listeners: list[StateListener] = []
        self._on_connected: list[RoomCallback] = []
        self._on_lost: list[Callable[[], Awaitable[None]]] = []
        self._lost: asyncio.Event | None = None
        self._lost_reason = ""
        self._closing = False
        self._handlers: dict[int, dict[str, Callable[..., None]]] = {}
        self._background: set[asyncio.Task[Any]] = set()

    async def __aenter__(self) -> RoomConnection:
        await self.connect()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- hooks ---------------------------------------------------------------------------

    def add_listener(self, listener: StateListener) -> None:
        """Have ``listener`` see every state change."""
        self._listeners.append(listener)

    def on_connected(self, callback: RoomCallback) -> None:
        """Call ``callback(room)`` after every successful (re)connection."""
        self._on_connected.append(callback)

    def on_lost(self, callback: Callable[[], Awaitable[None]]) -> None:
        """Call ``callback()`` when the room is lost (before reconnecting)."""
        self._on_lost.append(callback)

    # -- connecting ------------------------------------------------------------------------

    async def connect(self) -> RoomLike:
        """Join the room: one attempt within the timeout; a failure is raised, not retried."""
        self._lost = asyncio.Event()
        self._set_state("connecting")
        try:
            room = await self._attempt()
        except VAError as exc:
            self._set_state("failed", reason=str(exc))
            raise
        await self._connected(room)
        return room

    async def _attempt(self) -> RoomLike:
        token = self.tokens()
        room = self._factory()
        self._watch(room)
        began = time.perf_counter()
        task = asyncio.create_task(
            room.connect(self.url, token, self._options_factory()), name="room-connect"
        )
        try:
            done, _ = await asyncio.wait({task}, timeout=self.connect_timeout_s)
        except asyncio.CancelledError:
            self._abandon(room, task)
            raise
        if not done:
            self._abandon(room, task)
            raise RoomUnavailable(
                f"no answer from the LiveKit server at {self.url} within "
                f"{self.connect_timeout_s:g} s"
            )
        failure = task.exception()
        if failure is not None:
            self._unwatch(room)
            if isinstance(failure, VAError):
                raise failure
            raise translate_connect_error(failure, self.url) from None
        self.connect_ms = (time.perf_counter() - began) * 1000
        _logger.info("connected to room %s in %.0f ms", self.room_name, self.connect_ms)
        return room

    def _abandon(self, room: RoomLike, task: asyncio.Task[None]) -> None:
        """Stop waiting for a connect that hangs; leave the room if it succeeds later.

        Cancelling the SDK's connect would only stop *waiting* for it: the native
        side may still join, and a forgotten participant with our identity would
        later push the real one out of the room.
        """
        self._unwatch(room)

        def finished(done: asyncio.Task[None]) -> None:
            self._background.discard(done)
            if not done.cancelled() and done.exception() is None and not self._closing:
                leave = asyncio.create_task(room.disconnect(), name="room-leave-abandoned")
                self._background.add(leave)
                leave.add_done_callback(self._background.discard)

        self._background.add(task)
        task.add_done_callback(finished)

    async def _connected(self, room: RoomLike) -> None:
        previous, self.room = self.room, room
        if previous is not None and previous is not room:
            self._unwatch(previous)
        self._set_state("connected")
        for callback in self._on_connected:
            await callback(room)

    # -- staying connected -------------------------------------------------------------------

    async def run(self) -> None:
        """Stay in the room until :meth:`aclose`; reconnect after drops, raise if that fails."""
        if self._lost is None:
            raise RuntimeError("connect() first")
        while True:
            await self._lost.wait()
            self._lost.clear()
            if self._closing:
                return
            reason = self._lost_reason
            for callback in self._on_lost:
                await callback()
            if reason in _ROOM_ENDED:
                self._set_state("disconnected", reason="the room was closed")
                return
            if reason in FINAL_DISCONNECT_REASONS:
                message = _FINAL_MESSAGES.get(reason, reason.lower().replace("_", " "))
                self._set_state("failed", reason=message)
                raise RoomError(f"left room {self.room_name!r}: {message}")
            await self._reconnect(reason)

    async def _reconnect(self, reason: str) -> None:
        policy = self.policy
        if policy is None or policy.max_attempts == 0:
            self._set_state("failed", reason=reason)
            raise RoomUnavailable(f"lost the connection to room {self.room_name!r} ({reason})")
        last = reason
        for attempt, delay in enumerate(policy.delays(self._rand), start=1):
            self._set_state("reconnecting", attempt=attempt, delay_s=delay, reason=last)
            await self._sleep(delay)
            if self._closing:
                return
            try:
                room = await self._attempt()
            except VAError as exc:
                if is_permanent(exc):
                    self._set_state("failed", reason=str(exc))
                    raise
                last = str(exc)
                continue
            self.reconnects += 1
            await self._connected(room)
            return
        self._set_state("failed", reason=last)
        raise RoomUnavailable(
            f"lost the connection to room {self.room_name!r} and {policy.max_attempts} "
            f"reconnection attempts failed (last: {last})"
        )

    # -- leaving -----------------------------------------------------------------------------

    async def aclose(self) -> None:
        """Leave the room (bounded wait) and stop every background task."""
        if self._closing:
            return
        self._closing = True
        if self._lost is not None:
            self._lost.set()
        for task in list(self._background):
            task.cancel()
        if self._background:
            await asyncio.gather(*self._background, return_exceptions=True)
        room, self.room = self.room, None
        if room is not None:
            self._unwatch(room)
            if room.isconnected():
                try:
                    await asyncio.wait_for(room.disconnect(), DISCONNECT_TIMEOUT_S)
                except TimeoutError:
                    _logger.warning("leaving the room took over %.0f s", DISCONNECT_TIMEOUT_S)
                except Exception as exc:  # the SDK's own errors: we are leaving anyway
                    _logger.warning("error while leaving the room: %s", exc)
            self._set_state("disconnected", reason="left the room")

    # -- SDK events --------------------------------------------------------------------------

    def _watch(self, room: RoomLike) -> None:
        def reconnecting() -> None:
            if room is self.room:
                self._set_state("reconnecting", reason="the connection dropped; resuming")

        def reconnected() -> None:
            if room is self.room:
                self._set_state("connected", reason="resumed")

        def disconnected(reason: Any = None) -> None:
            if room is not self.room or self._closing:
                return
            self._lost_reason = disconnect_reason_name(reason)
            self._set_state("disconnected", reason=self._lost_reason)
            if self._lost is not None:
                self._lost.set()

        handlers = {
            "reconnecting": reconnecting,
            "reconnected": reconnected,
            "disconnected": disconnected,
        }
        self._handlers[id(room)] = handlers
        for event, handler in handlers.items():
            room.on(event, handler)

    def _unwatch(self, room: RoomLike) -> None:
        for event, handler in self._handlers.pop(id(room), {}).items():
            room.off(event, handler)

    def _set_state(
        self,
        state: ConnectionStateName,
        *,
        attempt: int = 0,
        delay_s: float | None = None,
        reason: str = "",
    ) -> None:
        self.state = state
        change = ConnectionChanged(state, self.room_name, attempt, delay_s, reason)
        _logger.info("room connection %s", change.describe())
        for listener in self._listeners:
            listener(change)

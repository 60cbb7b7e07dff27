"""A command's conversation kept as a session, turn by turn, without slowing a turn down.

::

    va chat / talk / join ─► open_recording(settings, kind, resume=ID | continue_last)
        ─► a new session, the given one, or the last one of that kind
        ─► its history into the agent's Conversation (bounded as a live one)
    each finished turn ─► recorder.add(...)  (returns at once)
        ─► the recorder's writer task ─► Session.record ─► the store, in order
    the command ends ─► recorder.aclose(): pending turns written, then the store closed

A new session is only written to the store with its first turn, so a REPL
left without a word leaves no empty session behind. Failing to keep a turn
(a Redis gone away, a full disk) never fails the conversation: one warning
says so (like the reply cache's), and the conversation goes on. Only what the user asked for
explicitly fails the command: an unknown ``--session ID`` (exit 2), or a store
that cannot be read to resume from (exit 3).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from voice_agent_cli.errors import SessionError, UsageError
from voice_agent_cli.sessions.build import open_session_store
from voice_agent_cli.sessions.model import SessionInfo, SessionKind
from voice_agent_cli.sessions.session import Session
from voice_agent_cli.sessions.store import latest

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.core.conversation import Conversation
    from voice_agent_cli.sessions.store import SessionStore
    from voice_agent_cli.speech.events import VoiceTurn

_logger = logging.getLogger("va.sessions")


@dataclass(frozen=True)
class _Turn:
    """One finished turn waiting for the writer."""

    user: str
    reply: str
    source: str
    turn_id: str
    llm: str | None = None
    speaker: str | None = None
    tool_calls: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    #: When the turn ended (not when it was written): a room's sessions are merged by it.
    at: float = field(default_factory=time.time)


class SessionRecorder:
    """Appends one conversation's turns to its session, in order, from a named task."""

    def __init__(self, session: Session, *, stored: bool) -> None:
        self.session = session
        self._stored = stored
        self._failed = False
        self._queue: asyncio.Queue[_Turn | None] = asyncio.Queue()
        self._writer: asyncio.Task[None] | None = None

    @property
    def id(self) -> str:
        """The session id (what ``va chat --session ID`` takes)."""
        return self.session.id

    @property
    def resumed(self) -> bool:
        """True when this recorder continues a session that already had turns."""
        return self.session.info.turns > 0

    async def load_history(self, conversation: Conversation) -> int:
        """Put the session's last turns into ``conversation`` (its bounds apply); how many messages.

        A store that cannot be read is the command's failure (the user asked to resume).
        """
        if not self.resumed:
            return 0
        messages = await self.session.history(
            max_messages=conversation.max_messages, max_tokens=conversation.max_tokens
        )
        for message in messages:
            conversation.add(message)
        return len(messages)

    def add(
        self,
        *,
        user: str,
        reply: str,
        source: str | None,
        turn_id: str | None = None,
        llm: str | None = None,
        speaker: str | None = None,
        tool_calls: Iterable[str] = (),
        timings: Mapping[str, float] | None = None,
        interrupted: bool = False,
    ) -> None:
        """Queue a finished turn for the store; returns at once."""
        if self._writer is None:
            self._writer = asyncio.create_task(self._write(), name=f"va-session-{self.id}")
        self._queue.put_nowait(
            _Turn(
                user=user,
                reply=reply,
                source=source or "llm",
                turn_id=turn_id or uuid.uuid4().hex[:12],
                llm=llm,
                speaker=speaker,
                tool_calls=tuple(tool_calls),
                timings=dict(timings or {}),
                interrupted=interrupted,
            )
        )

    def add_voice_turn(self, turn: VoiceTurn, *, speaker: str | None = None) -> None:
        """Queue a finished (or barged-in) voice turn; one that got no reply at all is not kept."""
        if turn.source is None and not turn.reply:
            return
        self.add(
            user=turn.user,
            reply=turn.reply,
            source=turn.source,
            llm=turn.llm,
            speaker=speaker,
            tool_calls=turn.tool_calls,
            timings=turn.timings,
            interrupted=turn.interrupted,
        )

    async def flush(self) -> None:
        """Wait until every queued turn is written (or given up on)."""
        await self._queue.join()

    async def aclose(self) -> None:
        """Write what is queued, then stop the writer (the store is closed by its owner)."""
        if self._writer is None:
            return
        self._queue.put_nowait(None)
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        self._writer = None

    async def _write(self) -> None:
        while True:
            turn = await self._queue.get()
            try:
                if turn is None:
                    return
                await self._record(turn)
            finally:
                self._queue.task_done()

    async def _record(self, turn: _Turn) -> None:
        try:
            if not self._stored:
                self.session.info = await self.session.store.open(self.session.info)
                self._stored = True
            await self.session.record(
                turn_id=turn.turn_id,
                user=turn.user,
                reply=turn.reply,
                source=turn.source,
                llm=turn.llm,
                speaker=turn.speaker,
                tool_calls=turn.tool_calls,
                timings=turn.timings,
                interrupted=turn.interrupted,
                at=turn.at,
            )
        except SessionError as exc:
            # One warning per fault, as for the reply cache; the rest only in debug logs.
            level = logging.DEBUG if self._failed else logging.WARNING
            _logger.log(level, "session store unavailable (%s): turns of session %s are "
                        "not being kept; answering all the same", exc, self.id)  # fmt: skip
            self._failed = True


@dataclass
class SessionBook:
    """The session store of one command and the recorders it opened; closes them all."""

    settings: Settings
    store: SessionStore
    recorders: list[SessionRecorder] = field(default_factory=list)

    async def start(
        self,
        kind: SessionKind,
        *,
        llm: str | None = None,
        room: str | None = None,
        resume: str | None = None,
        continue_last: bool = False,
    ) -> SessionRecorder:
        """A recorder for a new session, the session ``resume`` names, or the last of ``kind``.

        :class:`~voice_agent_cli.errors.SessionNotFound` (exit 2) for an unknown id;
        with ``continue_last`` and no earlier session, a new one is started.
        """
        privacy = self.settings.profile.privacy
        if resume is not None:
            session = await Session.resume(self.store, privacy, resume)
            return self._keep(SessionRecorder(session, stored=True))
        if continue_last:
            last = await latest(self.store, kind)
            if last is not None:
                session = Session(self.store, last, privacy)
                return self._keep(SessionRecorder(session, stored=True))
        return self.new(kind, llm=llm, room=room)

    def new(
        self,
        kind: SessionKind,
        *,
        llm: str | None = None,
        room: str | None = None,
        session_id: str | None = None,
    ) -> SessionRecorder:
        """A recorder for a new session (nothing is written until its first turn).

        With ``session_id``, the session of that id: continued if the store has it
        (its turns are numbered on from the last), created with the first turn if not.
        """
        info = SessionInfo.new(
            kind, session_id=session_id, profile=self.settings.source, llm=llm, room=room
        )
        session = Session(self.store, info, self.settings.profile.privacy)
        return self._keep(SessionRecorder(session, stored=False))

    def _keep(self, recorder: SessionRecorder) -> SessionRecorder:
        self.recorders.append(recorder)
        return recorder

    async def aclose(self) -> None:
        """Write every recorder's pending turns, then close the store."""
        try:
            for recorder in self.recorders:
                await recorder.aclose()
        finally:
            await self.store.aclose()


def open_session_book(settings: Settings, *, required: bool = False) -> SessionBook | None:
    """The command's :class:`SessionBook`, or ``None`` when ``[sessions] enabled = false``.

    ``required`` (``--continue``, ``--session``) turns sessions being off into a usage error.
    """
    if not settings.profile.sessions.enabled:
        if required:
            raise UsageError(
                "sessions are off in this profile ([sessions] enabled = false): nothing to continue"
            )
        return None
    return SessionBook(settings, open_session_store(settings.profile))

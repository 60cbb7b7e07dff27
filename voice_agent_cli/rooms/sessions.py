"""The agent's conversations in a room, kept as sessions: one per participant.

::

    RoomAgent ─(ParticipantVoice: alice's VoiceTurn)─► RoomSessions.observe
        ─► alice's recorder: the session room_session_id("demo", "alice")
        ─► the session store, speaker = alice

    the agent (re)joins "demo" ─► RoomSessions.load_history(conversation)
        ─► the room's sessions ─► their last turns, merged in the order they were said
        ─► the room's one conversation (bounded as a live one) ─► the LLM's history

The room shares one conversation for the LLM (everyone hears every answer),
but each person gets their own session, so ``va sessions show`` reads as
their conversation with the agent, and a session never mixes two people's
words. A participant's session id is derived from the room's name and their
identity, so whichever process hears them next (``va join`` started again, or
a ``va serve`` job offered to another worker after its worker died) appends
to the same session, numbered on; on a shared Redis the move is seamless.
The store is the command's :class:`~voice_agent_cli.sessions.recorder.SessionBook`,
closed (pending turns written) when the command leaves the room.
"""

from __future__ import annotations

import hashlib
import heapq
import logging
import re
from collections.abc import Callable
from typing import TYPE_CHECKING

from voice_agent_cli.errors import SessionError
from voice_agent_cli.rooms.events import ParticipantVoice, RoomEvent
from voice_agent_cli.sessions.session import history_from_turns
from voice_agent_cli.speech.events import VoiceTurn

if TYPE_CHECKING:
    from voice_agent_cli.core.conversation import Conversation
    from voice_agent_cli.sessions.recorder import SessionBook, SessionRecorder

_logger = logging.getLogger("va.sessions")

#: At most this many of a room's sessions (its most recent speakers) feed its history.
MAX_ROOM_SESSIONS = 32

_UNSAFE = re.compile(r"[^A-Za-z0-9_-]+")


def room_session_id(room: str, identity: str) -> str:
    """The session id of ``identity``'s conversation in ``room``: the same in every process.

    Readable (``room-demo.alice.1f0c…``) and safe as a session id whatever the
    names hold; the digest of the exact names keeps two rooms or people whose
    names read alike apart.
    """
    digest = hashlib.sha256(f"{room}\n{identity}".encode()).hexdigest()[:10]
    return f"room-{_slug(room)}.{_slug(identity)}.{digest}"


def _slug(name: str) -> str:
    return _UNSAFE.sub("-", name).strip("-")[:40]


class RoomSessions:
    """A room observer that keeps each participant's turns in their own session."""

    def __init__(
        self,
        book: SessionBook,
        room: str,
        *,
        on_new: Callable[[str, SessionRecorder], None] | None = None,
    ) -> None:
        self.book = book
        self.room = room
        self.on_new = on_new
        #: Each participant's recorder, by identity.
        self.recorders: dict[str, SessionRecorder] = {}

    def observe(self, event: RoomEvent) -> None:
        """Keep a participant's finished turn (every other event is ignored)."""
        if not isinstance(event, ParticipantVoice) or not isinstance(event.event, VoiceTurn):
            return
        recorder = self.recorders.get(event.identity)
        if recorder is None:
            recorder = self.book.new(
                "room", room=self.room, session_id=room_session_id(self.room, event.identity)
            )
            self.recorders[event.identity] = recorder
            if self.on_new is not None:
                self.on_new(event.identity, recorder)
        recorder.add_voice_turn(event.event, speaker=event.identity)

    async def load_history(self, conversation: Conversation) -> int:
        """Put the room's last turns, everyone's, into ``conversation``; how many messages.

        The turns of the room's sessions are merged in the order they were said,
        then bounded as a live history is (``max_messages``, ``max_tokens``). A
        store that cannot be read costs the history, never the room: one warning
        says so and the agent answers from a fresh conversation.
        """
        store = self.book.store
        try:
            sessions = await store.recent(limit=MAX_ROOM_SESSIONS, kind="room", room=self.room)
            per_session = [
                await store.turns(info.id, last=conversation.max_messages) for info in sessions
            ]
        except SessionError as exc:
            _logger.warning(
                "session store unavailable (%s): room %s starts without its earlier "
                "conversation", exc, self.room,
            )  # fmt: skip
            return 0
        turns = heapq.merge(*per_session, key=lambda turn: turn.at)
        messages = history_from_turns(
            turns, max_messages=conversation.max_messages, max_tokens=conversation.max_tokens
        )
        for message in messages:
            conversation.add(message)
        return len(messages)

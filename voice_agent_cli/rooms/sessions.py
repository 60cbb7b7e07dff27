"""The agent's conversations in a room, kept as sessions: one per participant.

::

    RoomAgent ─(ParticipantVoice: alice's VoiceTurn)─► RoomSessions.observe
        ─► alice's recorder (a new "room" session, created with her first turn)
        ─► the session store, speaker = alice

The room shares one conversation for the LLM (everyone hears every answer),
but each person gets their own session, so ``va sessions show`` reads as
their conversation with the agent, and a session never mixes two people's
words. The store is the command's :class:`~voice_agent_cli.sessions.recorder.SessionBook`,
closed (pending turns written) when the command leaves the room.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from voice_agent_cli.rooms.events import ParticipantVoice, RoomEvent
from voice_agent_cli.speech.events import VoiceTurn

if TYPE_CHECKING:
    from voice_agent_cli.sessions.recorder import SessionBook, SessionRecorder


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
            recorder = self.book.new("room", room=self.room)
            self.recorders[event.identity] = recorder
            if self.on_new is not None:
                self.on_new(event.identity, recorder)
        recorder.add_voice_turn(event.event, speaker=event.identity)

"""Who is in the room: every participant's identity, microphone, speaking and pipeline state.

:class:`RoomParticipants` is plain bookkeeping fed by the room's events (the
session calls it); the live view and ``--json`` read its snapshot. It holds
no SDK objects, so a stale participant can never keep a native handle alive.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any


@dataclass
class ParticipantState:
    """One person (or bot) in the room, as far as the agent knows."""

    identity: str
    name: str
    kind: str = "standard"
    joined_at: float = field(default_factory=time.time)
    microphone: bool = False
    #: The server says this participant is speaking (its active speakers).
    speaking: bool = False
    #: A voice pipeline transcribes this participant.
    listening: bool = False
    #: The voice pipeline's state: listening, thinking or speaking (the agent's).
    voice_state: str = ""
    turns: int = 0

    def as_json(self) -> dict[str, Any]:
        """The participant as plain data."""
        return {
            "identity": self.identity,
            "name": self.name,
            "kind": self.kind,
            "microphone": self.microphone,
            "speaking": self.speaking,
            "listening": self.listening,
            "voice_state": self.voice_state,
            "turns": self.turns,
        }


class RoomParticipants:
    """The participants of one room, in the order they joined."""

    def __init__(self) -> None:
        self._people: dict[str, ParticipantState] = {}

    def __len__(self) -> int:
        return len(self._people)

    def __iter__(self) -> Iterator[ParticipantState]:
        return iter(list(self._people.values()))

    def __contains__(self, identity: object) -> bool:
        return identity in self._people

    def get(self, identity: str) -> ParticipantState | None:
        """The participant with ``identity``, if present."""
        return self._people.get(identity)

    def joined(
        self, identity: str, name: str = "", kind: str = "standard"
    ) -> ParticipantState | None:
        """Record an arrival; ``None`` if the participant was already known."""
        if identity in self._people:
            return None
        state = ParticipantState(identity, name or identity, kind)
        self._people[identity] = state
        return state

    def left(self, identity: str) -> ParticipantState | None:
        """Record a departure; the participant's last state, or ``None`` if unknown."""
        return self._people.pop(identity, None)

    def set_speakers(self, identities: Iterable[str]) -> tuple[str, ...]:
        """Mark who is speaking now; returns them in room order."""
        speaking = set(identities)
        for person in self._people.values():
            person.speaking = person.identity in speaking
        return tuple(p.identity for p in self._people.values() if p.speaking)

    def clear(self) -> None:
        """Forget everyone (the room was lost; a new one re-announces them)."""
        self._people.clear()

    def snapshot(self) -> list[dict[str, Any]]:
        """Every participant as plain data, in joining order."""
        return [person.as_json() for person in self._people.values()]

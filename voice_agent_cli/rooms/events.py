"""What the room layer tells its observers: connection states, people, voices, turns.

The room layer never prints; ``va join`` renders these events (a live view,
plain lines, or one JSON object per event with ``--json``). Voice events of a
participant's pipeline travel wrapped in :class:`ParticipantVoice`, so the
view knows whose transcript or turn it is. What is not the room's own comes
from the one vocabulary (:mod:`voice_agent_cli.contracts.events`): a
:class:`~voice_agent_cli.contracts.events.Notice` is the same event whichever
layer sends it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from voice_agent_cli.contracts.events import Notice
from voice_agent_cli.speech.events import (
    AgentSpeech,
    AgentText,
    BargeIn,
    FalseInterruption,
    StateChanged,
    UserSpeaking,
    UserTranscript,
    VoiceEvent,
    VoiceTurn,
)

#: The states of the connection to the room, in the order they usually come.
ConnectionStateName = Literal["connecting", "connected", "reconnecting", "disconnected", "failed"]


@dataclass(frozen=True)
class ConnectionChanged:
    """The connection moved to ``state`` (``attempt``/``delay_s`` while reconnecting)."""

    state: ConnectionStateName
    room: str
    attempt: int = 0
    delay_s: float | None = None
    reason: str = ""

    def describe(self) -> str:
        """One line for logs and plain output."""
        text = f"{self.state} (room {self.room!r})"
        if self.attempt:
            text += f", attempt {self.attempt}"
        if self.delay_s is not None:
            text += f" in {self.delay_s:.1f} s"
        return f"{text}: {self.reason}" if self.reason else text


@dataclass(frozen=True)
class ParticipantJoined:
    """Someone joined (or was already there when the agent joined)."""

    identity: str
    name: str
    kind: str
    count: int


@dataclass(frozen=True)
class ParticipantLeft:
    """Someone left."""

    identity: str
    count: int


@dataclass(frozen=True)
class SpeakingChanged:
    """Who is speaking now (the server's active speakers)."""

    speakers: tuple[str, ...]


@dataclass(frozen=True)
class ParticipantVoice:
    """An event of one participant's voice pipeline (transcript, reply, turn, barge-in)."""

    identity: str
    event: VoiceEvent


@dataclass(frozen=True)
class DataMessage:
    """A data-channel message from a participant (its size and topic; never shown whole)."""

    identity: str
    topic: str
    size: int


RoomEvent = (
    ConnectionChanged
    | ParticipantJoined
    | ParticipantLeft
    | SpeakingChanged
    | ParticipantVoice
    | DataMessage
    | Notice
)


def event_json(event: RoomEvent) -> dict[str, Any] | None:
    """The JSON object ``va join --json`` prints for ``event`` (None: not printed).

    Streaming pieces (reply text deltas, VAD starts) are left out: a script
    wants the transcript lines and the turns, not every token.
    """
    if isinstance(event, ConnectionChanged):
        return {
            "event": "connection",
            "state": event.state,
            "room": event.room,
            "attempt": event.attempt,
            "delay_s": None if event.delay_s is None else round(event.delay_s, 3),
            "reason": event.reason,
        }
    if isinstance(event, ParticipantJoined):
        return {
            "event": "participant_joined",
            "identity": event.identity,
            "name": event.name,
            "kind": event.kind,
            "participants": event.count,
        }
    if isinstance(event, ParticipantLeft):
        return {
            "event": "participant_left",
            "identity": event.identity,
            "participants": event.count,
        }
    if isinstance(event, SpeakingChanged):
        return {"event": "speaking", "speakers": list(event.speakers)}
    if isinstance(event, DataMessage):
        return {
            "event": "data",
            "identity": event.identity,
            "topic": event.topic,
            "size": event.size,
        }
    if isinstance(event, Notice):
        return {"event": "notice", "level": event.level, "message": event.message}
    return _voice_json(event)


def _voice_json(wrapped: ParticipantVoice) -> dict[str, Any] | None:
    event, who = wrapped.event, wrapped.identity
    if isinstance(event, VoiceTurn):
        return {"event": "turn", "speaker": who, **event.as_json()}
    if isinstance(event, UserTranscript):
        return {"event": "transcript", "speaker": who, "role": "user", "text": event.text}
    if isinstance(event, AgentSpeech):
        return {"event": "speech", "speaker": who, "text": event.text, "filler": event.filler}
    if isinstance(event, BargeIn):
        return {"event": "barge_in", "speaker": who, "dropped_s": round(event.dropped_seconds, 3)}
    if isinstance(event, FalseInterruption):
        heard, held = event.text, event.paused_seconds
        return {"event": "false_interruption", "speaker": who, "heard": heard, "held_s": held}
    if isinstance(event, StateChanged):
        return {"event": "agent_state", "speaker": who, "state": event.state}
    if isinstance(event, Notice):
        return {"event": "notice", "speaker": who, "level": event.level, "message": event.message}
    if isinstance(event, AgentText | UserSpeaking):
        return None
    return None

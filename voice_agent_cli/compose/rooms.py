"""Build the room agent of ``va join`` (and of a ``va serve`` job) from the settings.

::

    [livekit] + RoomTarget ─► RoomConnection (reconnect policy, token source)
                           ─► AgentTrack (what the agent says, at the room's rate)
                           ─► TranscriptPublisher (what was said, on the data topic)
                           └──► RoomAgent
    [livekit] answer/participant/names + the display name ─► AnswerPolicy

The command only runs what this builds; the rooms layer never reads a profile.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from voice_agent_cli.rooms.audio_out import AgentTrack
from voice_agent_cli.rooms.backoff import ReconnectPolicy
from voice_agent_cli.rooms.connection import RoomConnection
from voice_agent_cli.rooms.policy import AnswerPolicy
from voice_agent_cli.rooms.sdk import new_room
from voice_agent_cli.rooms.session import RoomAgent
from voice_agent_cli.rooms.transcripts import TranscriptPublisher

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.observe.metrics import Metrics
    from voice_agent_cli.rooms.sdk import RoomLike
    from voice_agent_cli.rooms.target import RoomTarget


def build_room_agent(
    settings: Settings,
    target: RoomTarget,
    *,
    room_factory: Callable[[], RoomLike] | None = None,
    metrics: Metrics | None = None,
) -> RoomAgent:
    """The agent's presence in ``target``'s room: connection, audio track, transcripts.

    ``room_factory`` replaces the LiveKit SDK's room (tests use a fake room);
    the room's gauges, counters and events go to ``metrics``.
    """
    livekit = settings.profile.livekit
    policy = (
        ReconnectPolicy(
            livekit.reconnect_base_s,
            livekit.reconnect_max_s,
            livekit.reconnect_jitter,
            livekit.reconnect_attempts,
        )
        if livekit.reconnect
        else None
    )
    connection = RoomConnection(
        target.url,
        target.room,
        target.tokens,
        connect_timeout_s=livekit.connect_timeout_s,
        policy=policy,
        room_factory=room_factory or new_room,
    )
    return RoomAgent(
        connection,
        identity=target.identity,
        track=AgentTrack(livekit.sample_rate),
        transcripts=TranscriptPublisher(
            topic=livekit.transcript_topic,
            transcription_events=livekit.transcription_events,
            metrics=metrics,
        ),
        metrics=metrics,
    )


def answer_policy(settings: Settings, target: RoomTarget) -> AnswerPolicy:
    """Whom the agent answers in the room, and when (``[livekit] answer``)."""
    livekit = settings.profile.livekit
    # The agent answers to its display name too ("--name Nova": "hey nova, ...").
    names = [*livekit.names, " ".join(target.name.lower().split())]
    return AnswerPolicy(
        livekit.answer, participant=livekit.participant, names=list(dict.fromkeys(names))
    )

"""Transcripts of both sides, sent into the room so a browser client can show them.

Three ways, so any client finds them (docs/livekit.md has the details):

1. a JSON message on the data channel, topic ``va.transcript`` (reliable)::

       {"type": "transcript", "version": 1, "role": "user", "speaker": "alice",
        "participant": "alice", "text": "What time is it?", "final": true,
        "interrupted": false, "segment_id": "SG_3f2a9c1d0b7e", "timestamp": 1767225600.12}

   ``role`` is ``user`` or ``agent``; ``speaker`` is who spoke; ``participant``
   is the person the turn belongs to (for the agent: whom it answers). Agent
   text is sent sentence by sentence as it starts playing (``final: false``,
   the text so far), then once more when the turn ends (``final: true``,
   ``interrupted`` when someone barged in);
2. LiveKit transcription events (``publish_transcription``), attached to the
   speaker's microphone track, which the LiveKit client SDKs surface as
   ``TranscriptionReceived``;
3. LiveKit Agents' ``lk.transcription`` text streams (what the Agents
   Playground shows).

:class:`VoiceCaptions` makes the lines from the voice pipelines' events;
:class:`TranscriptPublisher` sends them through one queue and one task
(``room-transcripts``), so messages keep their order and the voice loop never
waits on the network. A failure to send is logged and counted, never fatal.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Literal

from voice_agent_cli.observe.metrics import Metrics
from voice_agent_cli.rooms.sdk import (
    ATTRIBUTE_TRANSCRIPTION_FINAL,
    ATTRIBUTE_TRANSCRIPTION_SEGMENT_ID,
    ATTRIBUTE_TRANSCRIPTION_TRACK_ID,
    TRANSCRIPTION_TOPIC,
)
from voice_agent_cli.speech.events import AgentSpeech, UserTranscript, VoiceEvent, VoiceTurn

if TYPE_CHECKING:
    from voice_agent_cli.rooms.sdk import RoomLike

_logger = logging.getLogger("va.rooms")

#: Version of the JSON message format (bumped on an incompatible change).
MESSAGE_VERSION = 1
#: How long leaving the room waits for queued transcript lines.
FLUSH_TIMEOUT_S = 2.0


@dataclass(frozen=True)
class TranscriptLine:
    """One transcript message: who said what, whether it is final."""

    role: Literal["user", "agent"]
    speaker: str
    participant: str
    text: str
    final: bool
    segment_id: str
    interrupted: bool = False
    #: The speaker's audio track (LiveKit transcriptions are attached to it).
    track_sid: str = ""
    timestamp: float = 0.0

    def as_json(self) -> dict[str, Any]:
        """The data-channel message."""
        return {
            "type": "transcript",
            "version": MESSAGE_VERSION,
            "role": self.role,
            "speaker": self.speaker,
            "participant": self.participant,
            "text": self.text,
            "final": self.final,
            "interrupted": self.interrupted,
            "segment_id": self.segment_id,
            "timestamp": round(self.timestamp or time.time(), 3),
        }


def new_segment_id() -> str:
    """An id shared by the messages of one utterance or reply."""
    return f"SG_{uuid.uuid4().hex[:12]}"


class TranscriptPublisher:
    """Sends transcript lines into the current room, in order, off the voice loop."""

    def __init__(
        self,
        *,
        topic: str = "va.transcript",
        transcription_events: bool = True,
        metrics: Metrics | None = None,
    ) -> None:
        self.topic = topic
        #: Where a line that could not be sent is counted (its own registry unless
        #: given the command's).
        self.metrics = metrics if metrics is not None else Metrics()
        self.transcription_events = transcription_events
        self.room: RoomLike | None = None
        self._queue: asyncio.Queue[TranscriptLine] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        self.sent = 0
        self.failed = 0

    def attach(self, room: RoomLike | None) -> None:
        """Send into ``room`` from now on (``None``: the room is gone, lines are dropped)."""
        self.room = room
        if self._task is None:
            self._task = asyncio.create_task(self._send_all(), name="room-transcripts")

    def publish(self, line: TranscriptLine) -> None:
        """Queue a line (returns at once)."""
        if self.room is not None:
            self._queue.put_nowait(line)

    async def flush(self) -> None:
        """Wait (a bounded time) until every queued line was sent."""
        if self._task is None or self._task.done():
            return
        try:
            await asyncio.wait_for(self._queue.join(), FLUSH_TIMEOUT_S)
        except TimeoutError:
            _logger.info("%d transcript lines were not sent", self._queue.qsize())

    async def aclose(self) -> None:
        """Send what is queued (bounded), then stop."""
        await self.flush()
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    async def _send_all(self) -> None:
        while True:
            line = await self._queue.get()
            try:
                room = self.room
                if room is not None and room.isconnected():
                    await self._send(room, line)
                    self.sent += 1
            except Exception as exc:  # the SDK's publish errors: a transcript is never fatal
                self.failed += 1
                self.metrics.increment("errors", type="TranscriptNotSent")
                _logger.info("could not send a transcript line: %s", exc)
            finally:
                self._queue.task_done()

    async def _send(self, room: RoomLike, line: TranscriptLine) -> None:
        participant = room.local_participant
        payload = json.dumps(line.as_json(), ensure_ascii=False)
        await participant.publish_data(payload, reliable=True, topic=self.topic)
        if not self.transcription_events:
            return
        from livekit import rtc

        if line.track_sid:
            segment = rtc.TranscriptionSegment(
                id=line.segment_id,
                text=line.text,
                start_time=0,
                end_time=0,
                language="",
                final=line.final,
            )
            await participant.publish_transcription(
                rtc.Transcription(
                    participant_identity=line.speaker, track_sid=line.track_sid, segments=[segment]
                )
            )
        attributes = {
            ATTRIBUTE_TRANSCRIPTION_SEGMENT_ID: line.segment_id,
            ATTRIBUTE_TRANSCRIPTION_FINAL: "true" if line.final else "false",
        }
        if line.track_sid:
            attributes[ATTRIBUTE_TRANSCRIPTION_TRACK_ID] = line.track_sid
        writer = await participant.stream_text(
            topic=TRANSCRIPTION_TOPIC, sender_identity=line.speaker, attributes=attributes
        )
        await writer.write(line.text)
        await writer.aclose()


@dataclass
class _Reply:
    """The agent's reply to one participant, as far as it has been spoken."""

    segment_id: str = field(default_factory=new_segment_id)
    text: str = ""


class VoiceCaptions:
    """Turns the voice events of each participant's pipeline into transcript lines.

    The participant's words when their turn ends; the agent's reply sentence by
    sentence as each starts playing, then once more, final, when the turn ends.
    """

    def __init__(self, publisher: TranscriptPublisher, agent_identity: str) -> None:
        self.publisher = publisher
        self.agent_identity = agent_identity
        self._replies: dict[str, _Reply] = {}

    def on_voice(
        self, identity: str, event: VoiceEvent, *, microphone_sid: str = "", agent_sid: str = ""
    ) -> None:
        """Publish what ``event`` (of ``identity``'s pipeline) adds to the transcript."""
        if isinstance(event, UserTranscript):
            self._replies.pop(identity, None)
            self.publisher.publish(
                TranscriptLine(
                    "user",
                    identity,
                    identity,
                    event.text,
                    True,
                    new_segment_id(),
                    track_sid=microphone_sid,
                )
            )
        elif isinstance(event, AgentSpeech) and not event.filler:
            reply = self._replies.setdefault(identity, _Reply())
            reply.text = f"{reply.text} {event.text}".strip()
            self._agent_line(identity, reply.text, reply.segment_id, False, False, agent_sid)
        elif isinstance(event, VoiceTurn):
            reply = self._replies.pop(identity, _Reply())
            if event.reply or event.interrupted:
                self._agent_line(
                    identity, event.reply, reply.segment_id, True, event.interrupted, agent_sid
                )

    def forget(self, identity: str) -> None:
        """Drop the reply in progress to ``identity`` (they left)."""
        self._replies.pop(identity, None)

    def clear(self) -> None:
        """Drop every reply in progress (the room was lost)."""
        self._replies.clear()

    def _agent_line(
        self,
        identity: str,
        text: str,
        segment_id: str,
        final: bool,
        interrupted: bool,
        agent_sid: str,
    ) -> None:
        self.publisher.publish(
            TranscriptLine(
                "agent",
                self.agent_identity,
                identity,
                text,
                final,
                segment_id,
                interrupted=interrupted,
                track_sid=agent_sid,
            )
        )

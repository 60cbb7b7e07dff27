"""The agent's voice in the room: one published audio track, shared by every conversation.

:class:`AgentTrack` owns an ``rtc.AudioSource`` (48 or 24 kHz mono) and a
``LocalAudioTrack`` on it. Replies are queued as float audio and a pump task
(``room-agent-audio``) feeds the source 10 ms at a time; the source's own
small queue blocks the pump, so audio leaves at the pace of real time and a
barge-in only ever has to drop what is still queued here (plus ~100 ms).

Each participant's voice pipeline writes through its own :class:`TrackSink`
(the :class:`~voice_agent_cli.speech.io.AudioSink` interface): clearing one
pipeline's reply (its barge-in) never cuts another's, and ``drain`` waits for
that pipeline's audio only.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voice_agent_cli.errors import RoomError
from voice_agent_cli.speech.audio import StreamResampler, to_int16

if TYPE_CHECKING:
    from voice_agent_cli.rooms.sdk import RoomLike
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.io import PlayedListener

_logger = logging.getLogger("va.rooms")

#: The native queue ahead of the network: small, so a barge-in silences the track fast.
SOURCE_QUEUE_MS = 100
FRAME_MS = 10
TRACK_NAME = "va-agent-voice"


@dataclass
class _Chunk:
    owner: int
    samples: Samples
    offset: int = 0


class AgentTrack:
    """The agent's published audio track; ``async with`` starts and stops its pump."""

    def __init__(self, sample_rate: int = 48000, *, name: str = TRACK_NAME) -> None:
        self.sample_rate = sample_rate
        self.name = name
        self.source: Any = None  # rtc.AudioSource, made in start() (it needs the loop)
        self.track: Any = None
        self.publication: Any = None
        self._queue: deque[_Chunk] = deque()
        self._pending: dict[int, int] = {}
        self._listeners: dict[int, list[PlayedListener]] = {}
        self._owners = itertools.count(1)
        #: Owners whose reply is held (a possible interruption is being judged).
        self._paused: set[int] = set()
        self._wake = asyncio.Event()
        self._pump: asyncio.Task[None] | None = None
        #: Whose audio the source's native queue holds right now.
        self.in_flight: int | None = None
        #: Seconds of audio handed to the source since start.
        self.sent_seconds = 0.0

    async def __aenter__(self) -> AgentTrack:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def start(self) -> None:
        """Create the audio source and track, and start feeding it."""
        from livekit import rtc

        self.source = rtc.AudioSource(self.sample_rate, 1, queue_size_ms=SOURCE_QUEUE_MS)
        self.track = rtc.LocalAudioTrack.create_audio_track(self.name, self.source)
        self._pump = asyncio.create_task(self._feed(), name="room-agent-audio")

    async def publish(self, room: RoomLike) -> None:
        """Publish the track in ``room`` as a microphone (a new track object per room)."""
        from livekit import rtc

        if self.publication is not None:
            # A new room after a reconnection: the old track died with the old room.
            self.track = rtc.LocalAudioTrack.create_audio_track(self.name, self.source)
        options = rtc.TrackPublishOptions(source=rtc.TrackSource.SOURCE_MICROPHONE)
        try:
            self.publication = await room.local_participant.publish_track(self.track, options)
        except Exception as exc:  # rtc.PublishTrackError and FFI errors
            raise RoomError(f"cannot publish the agent's audio track: {exc}") from None

    async def unpublish(self, room: RoomLike) -> None:
        """Take the track out of ``room`` (a bounded wait: the room may be going away)."""
        publication, self.publication = self.publication, None
        if publication is None or not room.isconnected():
            return
        try:
            await asyncio.wait_for(room.local_participant.unpublish_track(publication.sid), 2.0)
        except Exception as exc:  # timeout, rtc.UnpublishTrackError: we are leaving anyway
            _logger.info("could not unpublish the agent track: %s", exc)

    def sink(self) -> TrackSink:
        """A new writer onto the track (one per participant's voice pipeline)."""
        return TrackSink(self, next(self._owners))

    async def aclose(self) -> None:
        """Stop the pump and release the source."""
        pump, self._pump = self._pump, None
        if pump is not None:
            pump.cancel()
            await asyncio.gather(pump, return_exceptions=True)
        self._queue.clear()
        self._pending.clear()
        if self.source is not None:
            self.source.clear_queue()
            await self.source.aclose()
            self.source = None

    # -- the queue (used by TrackSink) -------------------------------------------------------

    def enqueue(self, owner: int, samples: Samples) -> None:
        """Queue ``samples`` (at the track's rate) after everything already queued."""
        if len(samples):
            self._queue.append(_Chunk(owner, samples))
            self._pending[owner] = self._pending.get(owner, 0) + len(samples)
            self._wake.set()

    def playing(self, owner: int) -> bool:
        """True while ``owner``'s audio is queued here or still in the source's queue."""
        if self._pending.get(owner):
            return True
        return (
            self.in_flight == owner and self.source is not None and self.source.queued_duration > 0
        )

    def clear(self, owner: int) -> float:
        """Drop ``owner``'s audio not yet played; returns the seconds dropped."""
        dropped = self._pending.pop(owner, 0) / self.sample_rate
        self._queue = deque(chunk for chunk in self._queue if chunk.owner != owner)
        self.resume(owner)  # nothing left to hold: the next reply plays
        if self.in_flight == owner and self.source is not None:
            dropped += self.source.queued_duration
            self.source.clear_queue()
            self.in_flight = None
        return dropped

    def pause(self, owner: int) -> None:
        """Hold ``owner``'s audio where it is (the source's ~100 ms queue still plays out)."""
        self._paused.add(owner)

    def resume(self, owner: int) -> None:
        """Send ``owner``'s held audio again, from where it stopped."""
        self._paused.discard(owner)
        self._wake.set()

    def add_listener(self, owner: int, listener: PlayedListener) -> None:
        """Have ``listener`` see each block of ``owner``'s audio as it is sent."""
        self._listeners.setdefault(owner, []).append(listener)

    async def _feed(self) -> None:
        from livekit import rtc

        frame = self.sample_rate * FRAME_MS // 1000
        while True:
            if not self._queue or self._queue[0].owner in self._paused:
                # One voice on one track: a held reply holds what is queued after it.
                self._wake.clear()
                await self._wake.wait()
                continue
            chunk = self._queue[0]
            block = chunk.samples[chunk.offset : chunk.offset + frame]
            chunk.offset += len(block)
            if chunk.offset >= len(chunk.samples):
                self._queue.popleft()
            self._pending[chunk.owner] = self._pending.get(chunk.owner, 0) - len(block)
            if self._pending[chunk.owner] <= 0:
                del self._pending[chunk.owner]
            pcm = to_int16(block)
            self.in_flight = chunk.owner
            # Blocks while the source's queue is full: this is what paces the audio.
            await self.source.capture_frame(
                rtc.AudioFrame(pcm.tobytes(), self.sample_rate, 1, len(pcm))
            )
            self.sent_seconds += len(block) / self.sample_rate
            for listener in self._listeners.get(chunk.owner, ()):
                listener(block, self.sample_rate)


class TrackSink:
    """One voice pipeline's view of the agent track (the speech ``AudioSink`` interface)."""

    realtime = True
    #: The source's queue, ahead of the network (the client's jitter buffer is not known).
    output_latency = SOURCE_QUEUE_MS / 2000

    def __init__(self, track: AgentTrack, owner: int) -> None:
        self.track = track
        self.owner = owner
        self._resamplers: dict[int, StreamResampler] = {}

    async def write(self, samples: Samples, sample_rate: int) -> None:
        resampler = self._resamplers.get(sample_rate)
        if resampler is None:
            resampler = self._resamplers[sample_rate] = StreamResampler(
                sample_rate, self.track.sample_rate
            )
        # Each write is a whole sentence: flushing keeps its tail with it.
        self.track.enqueue(self.owner, resampler.push(samples))
        self.track.enqueue(self.owner, resampler.flush())

    def clear(self) -> float:
        for resampler in self._resamplers.values():
            resampler.reset()
        return self.track.clear(self.owner)

    def pause(self) -> None:
        self.track.pause(self.owner)

    def resume(self) -> None:
        self.track.resume(self.owner)

    async def drain(self) -> None:
        # Polling: the source reports its queue only as a number; 10 ms is far below
        # what anyone notices at the end of a reply.
        while self.track.playing(self.owner):  # noqa: ASYNC110
            await asyncio.sleep(0.01)

    @property
    def is_playing(self) -> bool:
        return self.track.playing(self.owner)

    def add_listener(self, listener: PlayedListener) -> None:
        self.track.add_listener(self.owner, listener)

    async def aclose(self) -> None:
        self.resume()
        self.clear()

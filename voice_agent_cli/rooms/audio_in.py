"""A participant's microphone as a voice-pipeline source.

:class:`ParticipantAudio` reads a subscribed audio track through an
``rtc.AudioStream`` that the SDK already resamples to 16 kHz mono in 20 ms
frames, and yields them as :class:`~voice_agent_cli.speech.audio.AudioFrame`
(the :class:`~voice_agent_cli.speech.io.AudioSource` interface), stamped with
stream time. It is real-time: frames come as the participant speaks.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from typing import Any

import numpy as np

from voice_agent_cli.speech.audio import PIPELINE_RATE, AudioFrame, from_int16


class ParticipantAudio:
    """One remote audio track as 16 kHz mono frames; ``aclose`` ends :meth:`frames`."""

    realtime = True

    def __init__(self, track: Any, *, identity: str = "", frame_ms: int = 20) -> None:
        self.track = track
        self.identity = identity
        self.frame_ms = frame_ms
        self._stream: Any = None
        self._closed = asyncio.Event()
        #: Seconds of audio received so far.
        self.received_seconds = 0.0

    async def frames(self) -> AsyncGenerator[AudioFrame, None]:
        from livekit import rtc

        if self._closed.is_set():
            return
        stream = rtc.AudioStream.from_track(
            track=self.track,
            sample_rate=PIPELINE_RATE,
            num_channels=1,
            frame_size_ms=self.frame_ms,
        )
        self._stream = stream
        try:
            iterator = aiter(stream)
            while not self._closed.is_set():
                event = await anext(iterator, None)
                if event is None:
                    return
                pcm = np.frombuffer(event.frame.data, dtype=np.int16)
                frame = AudioFrame(from_int16(pcm), PIPELINE_RATE, self.received_seconds)
                self.received_seconds += frame.duration
                yield frame
        finally:
            await self._close_stream()

    async def aclose(self) -> None:
        """Stop reading: the stream is closed, which ends :meth:`frames`."""
        self._closed.set()
        await self._close_stream()

    async def _close_stream(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            await stream.aclose()

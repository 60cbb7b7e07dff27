"""The audio I/O seam: one source and one sink interface for devices, files and fakes.

A source yields :class:`~voice_agent_cli.speech.audio.AudioFrame` s of 10-20 ms
at 16 kHz mono. A sink takes the agent's audio at any rate, and can be cut off
mid-utterance (:meth:`AudioSink.clear`, for barge-in) or held where it is
(:meth:`AudioSink.pause`, while the voice loop decides whether the user's
sound over the reply is a real interruption or an "uh-huh").

Real-time sinks (a speaker, a fake speaker) share :class:`BufferedSink`: the
agent's audio waits in a :class:`PlaybackBuffer` that the playback clock (the
PortAudio callback, or a fake device's clock) pulls fixed blocks from.
"""

from __future__ import annotations

import asyncio
import threading
from collections import deque
from collections.abc import AsyncGenerator, Callable
from typing import TYPE_CHECKING, Protocol, runtime_checkable

import numpy as np

from voice_agent_cli.errors import AudioDeviceError
from voice_agent_cli.speech.audio import StreamResampler

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import AudioFrame, Samples

#: Receives every block a sink actually plays (the echo canceller's far-end signal).
PlayedListener = Callable[["Samples", int], None]


@runtime_checkable
class AudioSource(Protocol):
    """Where the user's voice comes from."""

    #: True when frames arrive at the pace of real time (a microphone). A source
    #: may also say ``polite = True``: its user never talks over the agent, so the
    #: loop stops reading it while the agent answers (files: each one is a turn
    #: after the previous reply). Without the attribute: polite unless real-time.
    realtime: bool

    def frames(self) -> AsyncGenerator[AudioFrame, None]:
        """16 kHz mono frames, until the source ends (files) or is closed."""
        ...

    async def aclose(self) -> None:
        """Stop capturing and release the device or file."""
        ...


@runtime_checkable
class AudioSink(Protocol):
    """Where the agent's voice goes."""

    realtime: bool
    #: Seconds between writing audio and hearing it (added to e2e_latency).
    output_latency: float

    async def write(self, samples: Samples, sample_rate: int) -> None:
        """Queue audio for playback (returns before it has played)."""
        ...

    def clear(self) -> float:
        """Drop everything not played yet, at once (ending a pause); returns the seconds dropped."""
        ...

    def pause(self) -> None:
        """Stop playing at once, keeping what is queued (writes still queue)."""
        ...

    def resume(self) -> None:
        """Play on from exactly where :meth:`pause` stopped."""
        ...

    async def drain(self) -> None:
        """Wait until everything queued has played (marks the end of a reply)."""
        ...

    @property
    def is_playing(self) -> bool:
        """True while queued audio is still being played."""
        ...

    def add_listener(self, listener: PlayedListener) -> None:
        """Have ``listener`` receive each block as it is played."""
        ...

    async def aclose(self) -> None:
        """Stop playback and release the device or file."""
        ...


class PlaybackBuffer:
    """Audio waiting to be played, shared between the event loop and a playback thread."""

    def __init__(self) -> None:
        self._chunks: deque[Samples] = deque()
        self._offset = 0  # samples of the first chunk already played
        self._pending = 0
        self._lock = threading.Lock()
        #: While set, the playback clock gets silence and nothing is consumed.
        self.paused = False

    @property
    def pending(self) -> int:
        """Samples queued and not played yet."""
        return self._pending

    def push(self, samples: Samples) -> None:
        """Queue samples after everything already queued."""
        if len(samples):
            with self._lock:
                self._chunks.append(samples)
                self._pending += len(samples)

    def pull(self, count: int) -> tuple[Samples, int]:
        """The next ``count`` samples (zero-padded) and how many of them were real."""
        out = np.zeros(count, dtype=np.float32)
        filled = 0
        with self._lock:
            while filled < count and self._chunks and not self.paused:
                chunk = self._chunks[0]
                take = min(count - filled, len(chunk) - self._offset)
                out[filled : filled + take] = chunk[self._offset : self._offset + take]
                filled += take
                self._offset += take
                if self._offset == len(chunk):
                    self._chunks.popleft()
                    self._offset = 0
            self._pending -= filled
        return out, filled

    def clear(self) -> int:
        """Drop everything queued and end a pause; returns the samples dropped."""
        with self._lock:
            self.paused = False
            dropped = self._pending
            self._chunks.clear()
            self._offset = 0
            self._pending = 0
        return dropped


#: Seconds a real-time sink may take no audio at all before :meth:`BufferedSink.drain` gives up.
STALL_S = 3.0


class BufferedSink:
    """A real-time sink: audio is resampled to the output rate and played by a clock.

    Subclasses start the clock (a device stream, a fake clock) and call
    :meth:`play_block` from it for each block of output.
    """

    realtime = True

    def __init__(self, sample_rate: int, *, output_latency: float = 0.0) -> None:
        self.sample_rate = sample_rate
        self.output_latency = output_latency
        self.buffer = PlaybackBuffer()
        self._resamplers: dict[int, StreamResampler] = {}
        self._listeners: list[PlayedListener] = []
        #: Seconds of audio actually played (not counting padding), since creation.
        self.played_seconds = 0.0

    async def write(self, samples: Samples, sample_rate: int) -> None:
        resampler = self._resamplers.get(sample_rate)
        if resampler is None:
            resampler = self._resamplers[sample_rate] = StreamResampler(
                sample_rate, self.sample_rate
            )
        # Each write is a whole sentence: flushing keeps its tail with it.
        self.buffer.push(resampler.push(samples))
        self.buffer.push(resampler.flush())

    def clear(self) -> float:
        return self.buffer.clear() / self.sample_rate

    def pause(self) -> None:
        # The next block the clock pulls is silence: the pause is heard within a block.
        self.buffer.paused = True

    def resume(self) -> None:
        self.buffer.paused = False

    async def drain(self) -> None:
        """Wait until everything queued was played.

        Raises :class:`~voice_agent_cli.errors.AudioDeviceError` when the clock
        stops taking audio for :data:`STALL_S` (a speaker that died mid-reply),
        rather than waiting for ever.
        """
        # Polling is fine here: the playback thread cannot set an asyncio event,
        # and 10 ms is far below what a listener notices at the end of a reply.
        loop = asyncio.get_running_loop()
        last_pending, last_progress = self.buffer.pending, loop.time()
        while self.buffer.pending:
            await asyncio.sleep(0.01)
            pending = self.buffer.pending
            if pending != last_pending or self.buffer.paused:  # a pause is not a stall
                last_pending, last_progress = pending, loop.time()
            elif loop.time() - last_progress > STALL_S:
                self.buffer.clear()

                raise AudioDeviceError(
                    f"the speaker stopped playing (nothing played for {STALL_S:g} s)"
                )

    @property
    def is_playing(self) -> bool:
        return self.buffer.pending > 0

    def add_listener(self, listener: PlayedListener) -> None:
        self._listeners.append(listener)

    def play_block(self, count: int) -> Samples:
        """Take the next block of ``count`` samples for the output (from the clock)."""
        block, real = self.buffer.pull(count)
        self.played_seconds += real / self.sample_rate
        for listener in self._listeners:
            listener(block, self.sample_rate)
        return block

    async def aclose(self) -> None:
        self.buffer.clear()

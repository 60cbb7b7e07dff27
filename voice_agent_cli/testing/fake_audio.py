"""A fake microphone and speaker in one room, for testing the voice loop in real time.

:class:`FakeRoom` plays a prepared recording into the "microphone" at the pace
of real time while a fake speaker plays whatever the agent says on the same
clock. With ``echo_gain`` the speaker's output comes back into the
microphone, ``echo_delay_ms`` later, as it would from a laptop's speaker:
the test of self-hearing and of echo cancellation. ``cues`` are sounds the
user makes at set times after the agent's voice first starts (an "uh-huh"
1.5 s into the reply, however long the agent took to begin). Everything
played is logged with its time, so a test can see when the agent's voice stopped.

Also :class:`FakeSoundDevice`, a stand-in for the ``sounddevice`` module that
drives the real :mod:`voice_agent_cli.speech.devices` code from a thread.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_agent_cli.speech.audio import PIPELINE_RATE, AudioFrame, frame_samples
from voice_agent_cli.speech.io import BufferedSink

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import Samples


class FakeSpeaker(BufferedSink):
    """A speaker whose clock is the fake room's: it plays one block per microphone frame."""

    def __init__(self, sample_rate: int = PIPELINE_RATE) -> None:
        super().__init__(sample_rate)
        #: (stream time, block) of everything played, silence included.
        self.log: list[tuple[float, Samples]] = []
        #: Set when the microphone's clock stops: the speaker then plays out alone.
        self.clock_stopped = False
        self._at = 0.0

    def tick(self, at: float, count: int) -> Samples:
        """Play the next ``count`` samples at stream time ``at``."""
        block = self.play_block(count)
        self.log.append((at, block))
        self._at = at + count / self.sample_rate
        return block

    async def drain(self) -> None:
        size = self.sample_rate // 50
        while self.buffer.pending:
            if self.clock_stopped:  # nobody ticks any more: play the rest at once
                self.resume()
                self.tick(self._at, size)
            else:
                await asyncio.sleep(0.01)

    def sound_intervals(self, level: float = 1e-3) -> list[tuple[float, float]]:
        """(start, end) stream times of stretches where the speaker was not silent."""
        intervals: list[tuple[float, float]] = []
        for at, block in self.log:
            if len(block) and float(abs(block).max()) > level:
                end = at + len(block) / self.sample_rate
                if intervals and at - intervals[-1][1] < 0.05:
                    intervals[-1] = (intervals[-1][0], end)
                else:
                    intervals.append((at, end))
        return intervals


class FakeMicrophone:
    """The room's microphone: the recording, plus the speaker's echo, in real time."""

    realtime = True
    polite = False

    def __init__(self, room: FakeRoom) -> None:
        self.room = room
        self._closed = False

    async def frames(self) -> AsyncGenerator[AudioFrame, None]:
        room = self.room
        size = frame_samples(PIPELINE_RATE, room.frame_ms)
        total = len(room.recording) + int(room.tail_s * PIPELINE_RATE)
        delay = int(room.echo_delay_ms * PIPELINE_RATE / 1000)
        echo_line = np.zeros(delay, dtype=np.float32)
        cues = np.zeros(0, dtype=np.float32)  # the cues, on the stream's timeline
        cues_end = 0
        started = time.perf_counter()
        offset = 0
        # The room's clock runs until the recording (and its tail) is over and the
        # speaker has nothing left to play, as a real device pair would.
        try:
            while not self._closed and (
                offset < max(total, cues_end) or room.speaker.is_playing or room.pending_cues
            ):
                at = offset / PIPELINE_RATE
                wait = started + at / room.time_scale - time.perf_counter()
                if wait > 0:
                    await asyncio.sleep(wait)
                else:
                    await asyncio.sleep(0)
                played = room.speaker.tick(at, size)
                if room.pending_cues and len(played) and float(abs(played).max()) > 1e-3:
                    cues = room.place_cues(offset)
                    cues_end = len(cues) + int(room.tail_s * PIPELINE_RATE)
                # The echo arrives ``delay`` samples after the sound left the speaker.
                echo_line = np.concatenate([echo_line, played])
                echo, echo_line = echo_line[:size], echo_line[size:]
                mic = room.recording[offset : offset + size]
                if len(mic) < size:
                    mic = np.concatenate([mic, np.zeros(size - len(mic), dtype=np.float32)])
                cue = cues[offset : offset + size]
                if len(cue):
                    mic = mic.copy()
                    mic[: len(cue)] += cue
                yield AudioFrame(mic + room.echo_gain * echo, PIPELINE_RATE, at)
                offset += size
        finally:
            room.speaker.clock_stopped = True

    async def aclose(self) -> None:
        self._closed = True


@dataclass
class FakeRoom:
    """A full-duplex device pair: ``recording`` is what the user says, on a timeline.

    ``time_scale`` > 1 runs the clock faster than real time (for fakes that take
    no real time to think); keep 1.0 with real models.
    """

    recording: Samples
    echo_gain: float = 0.0
    echo_delay_ms: int = 40
    frame_ms: int = 20
    tail_s: float = 3.0
    time_scale: float = 1.0
    speaker: FakeSpeaker = field(default_factory=FakeSpeaker)
    #: (seconds after the agent's voice first starts, sound): what the user says over it.
    cues: list[tuple[float, Samples]] = field(default_factory=list)

    def __post_init__(self) -> None:
        self.microphone = FakeMicrophone(self)
        self.pending_cues = bool(self.cues)
        #: Stream times at which the cues started (known once the agent spoke).
        self.cue_times: list[float] = []

    def place_cues(self, offset: int) -> Samples:
        """The cues laid out on the stream, the agent's voice having started at ``offset``."""
        self.pending_cues = False
        spans = [(offset + int(delay * PIPELINE_RATE), sound) for delay, sound in self.cues]
        self.cue_times = [start / PIPELINE_RATE for start, _ in spans]
        track = np.zeros(max(start + len(sound) for start, sound in spans), dtype=np.float32)
        for start, sound in spans:
            track[start : start + len(sound)] += sound
        return track


# --- a stand-in for the sounddevice module -----------------------------------------


class FakePortAudioError(Exception):
    """What the fake raises where PortAudio would fail."""


class _FakeStream:
    def __init__(self, owner: FakeSoundDevice, kind: str, **settings: Any) -> None:
        self.device = owner
        self.index = settings.get("device")
        self.kind = kind
        self.samplerate = int(settings["samplerate"])
        self.blocksize = int(settings["blocksize"])
        self.callback: Callable[..., None] = settings["callback"]
        self.finished_callback: Callable[[], None] | None = settings.get("finished_callback")
        self.latency = 0.01
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=f"fake-{self.kind}", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        period = self.blocksize / self.samplerate / self.device.time_scale
        position = 0
        while not self._stop.is_set():
            if self.kind == "input":
                block = self.device.capture[position : position + self.blocksize]
                if len(block) < self.blocksize:
                    block = np.concatenate([block, np.zeros(self.blocksize - len(block))])
                self.callback(block.astype(np.float32).reshape(-1, 1), self.blocksize, None, None)
            else:
                out = np.zeros((self.blocksize, 1), dtype=np.float32)
                self.callback(out, self.blocksize, None, None)
                self.device.played.append(out[:, 0].copy())
            position += self.blocksize
            time.sleep(period)

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None and self._thread is not threading.current_thread():
            self._thread.join(timeout=1)

    def close(self) -> None:
        self.stop()

    def fail(self) -> None:
        """The device went away: PortAudio stops the stream and says it finished."""
        self.stop()
        if self.finished_callback is not None:
            self.finished_callback()


class _Default:
    def __init__(self, device: list[int]) -> None:
        self.device = device


class FakeSoundDevice:
    """Enough of the ``sounddevice`` module for :mod:`voice_agent_cli.speech.devices`.

    ``devices`` are dicts like PortAudio's; ``capture`` is what the fake
    microphone hears (at the input device's rate); ``played`` collects the
    blocks the fake speaker played. ``fail_open`` makes opening a stream fail;
    :meth:`unplug` and :meth:`plug` take the microphone away and give it back.
    """

    PortAudioError = FakePortAudioError

    def __init__(
        self,
        devices: list[dict[str, Any]] | None = None,
        *,
        capture: Samples | None = None,
        default: tuple[int, int] = (0, 1),
        fail_open: str | None = None,
        time_scale: float = 1.0,
    ) -> None:
        self.devices = devices if devices is not None else default_devices()
        self.capture = capture if capture is not None else np.zeros(0, dtype=np.float32)
        self.default = _Default(list(default) if self.devices else [-1, -1])
        self.fail_open = fail_open
        self.time_scale = time_scale
        self.played: list[Samples] = []
        self.streams: list[_FakeStream] = []

    def unplug(self) -> None:
        """Pull the microphone out: its stream fails and it cannot be opened again."""
        self.fail_open = "Device unavailable [PaErrorCode -9985]"
        for stream in self.streams:
            if stream.kind == "input":
                stream.fail()

    def plug(self) -> None:
        """Plug the microphone back in."""
        self.fail_open = None

    def query_devices(self) -> list[dict[str, Any]]:
        return list(self.devices)

    def InputStream(self, **settings: Any) -> _FakeStream:  # sounddevice's name
        return self._open("input", settings)

    def OutputStream(self, **settings: Any) -> _FakeStream:  # sounddevice's name
        return self._open("output", settings)

    def _open(self, kind: str, settings: dict[str, Any]) -> _FakeStream:
        if self.fail_open:
            raise FakePortAudioError(self.fail_open)
        stream = _FakeStream(self, kind, **settings)
        self.streams.append(stream)
        return stream


def default_devices() -> list[dict[str, Any]]:
    """A laptop: a 48 kHz microphone and a 44.1 kHz speaker."""
    return [
        {
            "name": "Built-in Microphone",
            "max_input_channels": 1,
            "max_output_channels": 0,
            "default_samplerate": 48000.0,
        },
        {
            "name": "Built-in Speakers",
            "max_input_channels": 0,
            "max_output_channels": 2,
            "default_samplerate": 44100.0,
        },
    ]

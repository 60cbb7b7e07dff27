"""The microphone and the speaker, through sounddevice (PortAudio).

Kept thin on purpose: a PortAudio callback hands blocks to the event loop (mic)
or pulls them from a :class:`~voice_agent_cli.speech.io.BufferedSink` (speaker);
everything else is shared with the file and fake devices. PortAudio's errors,
and a missing ``libportaudio2``, become one-line
:class:`~voice_agent_cli.errors.AudioDeviceError` s (exit code 3) that suggest
``--input``.

The sounddevice module can be injected (``sd=``), which is how the tests cover
this path with a fake device.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
from collections.abc import AsyncGenerator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Literal

from voice_agent_cli.errors import AudioDeviceError
from voice_agent_cli.speech.audio import (
    PIPELINE_RATE,
    AudioFrame,
    StreamResampler,
    frame_samples,
)
from voice_agent_cli.speech.io import BufferedSink

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import Samples

HINT = "talk from files instead with --input question.wav (and --output reply.wav)"

Kind = Literal["input", "output"]


def load_sounddevice() -> Any:
    """The sounddevice module, or an :class:`AudioDeviceError` if PortAudio is missing."""
    try:
        return importlib.import_module("sounddevice")
    except OSError:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise AudioDeviceError(
            "the PortAudio library is not installed (Debian/Ubuntu: apt-get install "
            f"libportaudio2); {HINT}"
        ) from None
    except ImportError:
        raise AudioDeviceError(f"the sounddevice package is not installed; {HINT}") from None


@dataclass(frozen=True)
class DeviceInfo:
    """One audio device as PortAudio reports it."""

    index: int
    name: str
    inputs: int
    outputs: int
    default_rate: float
    default_input: bool = False
    default_output: bool = False

    def as_json(self) -> dict[str, Any]:
        """The device as plain data for ``--json``."""
        return {
            "index": self.index,
            "name": self.name,
            "inputs": self.inputs,
            "outputs": self.outputs,
            "default_rate": self.default_rate,
            "default_input": self.default_input,
            "default_output": self.default_output,
        }


def list_devices(sd: Any = None) -> list[DeviceInfo]:
    """Every audio device, with the defaults marked."""
    sd = sd or load_sounddevice()
    try:
        devices = sd.query_devices()
        default_in, default_out = _defaults(sd)
    except sd.PortAudioError as exc:
        raise AudioDeviceError(f"cannot list audio devices ({exc}); {HINT}") from None
    return [
        DeviceInfo(
            index=index,
            name=str(device["name"]),
            inputs=int(device["max_input_channels"]),
            outputs=int(device["max_output_channels"]),
            default_rate=float(device["default_samplerate"]),
            default_input=index == default_in,
            default_output=index == default_out,
        )
        for index, device in enumerate(devices)
    ]


def _defaults(sd: Any) -> tuple[int, int]:
    default = sd.default.device
    try:
        return int(default[0]), int(default[1])
    except (TypeError, IndexError):
        return int(default), int(default)


def find_device(spec: str | None, kind: Kind, sd: Any = None) -> DeviceInfo:
    """The device ``spec`` names (an index or part of a name), or the default one."""
    sd = sd or load_sounddevice()
    devices = list_devices(sd)
    usable = [d for d in devices if (d.inputs if kind == "input" else d.outputs) > 0]
    what = "microphone" if kind == "input" else "speaker"
    if spec is None or spec == "":
        chosen = [d for d in usable if (d.default_input if kind == "input" else d.default_output)]
        if chosen:
            return chosen[0]
        if usable:
            return usable[0]
        raise AudioDeviceError(f"no {what} found; {HINT}")
    if spec.isdigit():
        matches = [d for d in usable if d.index == int(spec)]
    else:
        matches = [d for d in usable if spec.lower() in d.name.lower()]
    if not matches:
        raise AudioDeviceError(f"no {what} matches {spec!r} (see va talk --list-devices); {HINT}")
    return matches[0]


class MicrophoneSource:
    """The microphone as a source of 16 kHz frames (captured at the device's own rate)."""

    realtime = True
    polite = False

    def __init__(self, device: str | None = None, *, frame_ms: int = 20, sd: Any = None) -> None:
        self.device_spec = device
        self.frame_ms = frame_ms
        self._sd = sd
        self._stream: Any = None
        # None is the end-of-stream marker that aclose() puts in.
        self._queue: asyncio.Queue[Samples | None] = asyncio.Queue(maxsize=500)
        self.overflows = 0
        self.latency = 0.0
        self.info: DeviceInfo | None = None

    def open(self) -> None:
        """Open and start the input stream (raises :class:`AudioDeviceError`)."""
        sd = self._sd or load_sounddevice()
        self.info = find_device(self.device_spec, "input", sd)
        rate = int(self.info.default_rate)
        loop = asyncio.get_running_loop()

        def deliver(block: Samples) -> None:
            try:
                self._queue.put_nowait(block)
            except asyncio.QueueFull:  # the loop stalled: drop rather than grow without end
                self.overflows += 1

        def callback(indata: Any, frames: int, time: Any, status: Any) -> None:
            # PortAudio's thread: copy the block (its buffer is reused) and hand it over.
            loop.call_soon_threadsafe(deliver, indata[:, 0].copy())

        try:
            self._stream = sd.InputStream(
                device=self.info.index,
                samplerate=rate,
                channels=1,
                dtype="float32",
                blocksize=frame_samples(rate, self.frame_ms),
                callback=callback,
            )
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            self._stream = None
            raise AudioDeviceError(
                f"cannot open the microphone {self.info.name!r} ({exc}); {HINT}"
            ) from None
        self.latency = float(getattr(self._stream, "latency", 0.0) or 0.0)
        self._rate = rate

    async def frames(self) -> AsyncGenerator[AudioFrame, None]:
        import numpy as np

        if self._stream is None:
            self.open()
        resampler = StreamResampler(self._rate, PIPELINE_RATE)
        size = frame_samples(PIPELINE_RATE, self.frame_ms)
        pending = np.zeros(0, dtype=np.float32)
        emitted = 0
        while self._stream is not None:
            block = await self._queue.get()
            if block is None:
                return
            pending = np.concatenate([pending, resampler.push(block)])
            while len(pending) >= size:
                yield AudioFrame(pending[:size], PIPELINE_RATE, emitted / PIPELINE_RATE)
                pending = pending[size:]
                emitted += size

    async def aclose(self) -> None:
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):  # closing a dead device must not fail the exit
                stream.stop()
                stream.close()
            with contextlib.suppress(asyncio.QueueFull):
                self._queue.put_nowait(None)


class SpeakerSink(BufferedSink):
    """The speaker: PortAudio's callback pulls blocks from the playback buffer."""

    def __init__(self, device: str | None = None, *, frame_ms: int = 20, sd: Any = None) -> None:
        sd = sd or load_sounddevice()
        self.info = find_device(device, "output", sd)
        rate = int(self.info.default_rate)
        super().__init__(rate)

        def callback(outdata: Any, frames: int, time: Any, status: Any) -> None:
            outdata[:, 0] = self.play_block(frames)

        try:
            self._stream = sd.OutputStream(
                device=self.info.index,
                samplerate=rate,
                channels=1,
                dtype="float32",
                blocksize=frame_samples(rate, frame_ms),
                callback=callback,
            )
            self._stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioDeviceError(
                f"cannot open the speaker {self.info.name!r} ({exc}); {HINT}"
            ) from None
        self.output_latency = float(getattr(self._stream, "latency", 0.0) or 0.0)

    async def aclose(self) -> None:
        await super().aclose()
        stream, self._stream = self._stream, None
        if stream is not None:
            with contextlib.suppress(Exception):
                stream.stop()
                stream.close()

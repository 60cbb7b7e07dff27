"""The microphone and the speaker, through sounddevice (PortAudio).

Kept thin on purpose: a PortAudio callback hands blocks to the event loop (mic)
or pulls them from a :class:`~voice_agent_cli.speech.io.BufferedSink` (speaker);
everything else is shared with the file and fake devices. PortAudio's errors,
and a missing ``libportaudio2``, become one-line
:class:`~voice_agent_cli.errors.AudioDeviceError` s (exit code 3) that suggest
``--input``.

Around that: what PortAudio and ALSA print while devices are probed and opened
goes to the log, not the terminal (:mod:`.quiet`); dropouts are counted
(:mod:`.xruns`); a device can be named by its PulseAudio name or description
(:mod:`.pulse`); and a microphone that stops delivering audio (unplugged, its
server gone) is reopened with backoff, with a notice when it stops and when va
listens again. A PulseAudio microphone that goes away is followed by
:class:`~voice_agent_cli.speech.pulse.CaptureWatch` (the server moves the stream
rather than failing it).

The sounddevice module can be injected (``sd=``), which is how the tests cover
this path with a fake device.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib
import logging
import sys
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from voice_agent_cli.errors import AudioDeviceError
from voice_agent_cli.speech.audio import (
    PIPELINE_RATE,
    AudioFrame,
    StreamResampler,
    frame_samples,
)
from voice_agent_cli.speech.io import BufferedSink
from voice_agent_cli.speech.pulse import CaptureWatch, find_pulse_device, routed_to
from voice_agent_cli.speech.quiet import captured_stderr, silence_alsa
from voice_agent_cli.speech.xruns import XrunCounter

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.pulse import PulseDevice

logger = logging.getLogger("va.audio")

#: Receives what to tell the user about the devices: (message, level).
Notify = Callable[[str, str], None]

#: A microphone silent this long (no callback at all) has stopped.
STALL_S = 2.0
#: Waits between attempts to reopen a microphone that stopped.
REOPEN_BACKOFF_S = (0.5, 1.0, 2.0, 4.0, 8.0)

HINT = "talk from files instead with --input question.wav (and --output reply.wav)"

Kind = Literal["input", "output"]


def load_sounddevice() -> Any:
    """The sounddevice module, or an :class:`AudioDeviceError` if PortAudio is missing."""
    # Importing sounddevice initialises PortAudio, which probes every device
    # (ALSA, JACK): what they print belongs in the log.
    silence_alsa()
    try:
        with captured_stderr():
            return importlib.import_module("sounddevice")
    except OSError:  # sounddevice raises OSError when libportaudio cannot be loaded
        raise AudioDeviceError(
            "the PortAudio library is not installed (Debian/Ubuntu: apt-get install "
            f"libportaudio2); {HINT}"
        ) from None
    except ImportError:
        raise AudioDeviceError(f"the sounddevice package is not installed; {HINT}") from None


def reinitialize_portaudio() -> None:
    """Have PortAudio list the devices again (a sound server started since it was loaded).

    Only while no stream is open: PortAudio closes every stream when it terminates.
    """
    sd = sys.modules.get("sounddevice")
    if sd is None:
        return  # loading it will initialise PortAudio with the devices of now
    with captured_stderr():
        sd._terminate()
        sd._initialize()


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
    #: The PulseAudio source or sink behind PortAudio's ``pulse`` device, if one was named.
    pulse: PulseDevice | None = None

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
        with captured_stderr():
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
    """The device ``spec`` names (an index or part of a name), or the default one.

    A name PortAudio does not know may be a PulseAudio source or sink (its name
    or description): that one is reached through PortAudio's ``pulse`` device.
    """
    sd = sd or load_sounddevice()
    # The PulseAudio lookup is for the real PortAudio, not a fake injected by tests.
    real_sounddevice = getattr(sd, "__name__", None) == "sounddevice"
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
    if not matches and real_sounddevice:
        matches = _through_pulse(spec, kind, usable)
    if not matches:
        raise AudioDeviceError(f"no {what} matches {spec!r} (see va talk --list-devices); {HINT}")
    return matches[0]


def _through_pulse(spec: str, kind: Kind, usable: list[DeviceInfo]) -> list[DeviceInfo]:
    """PortAudio's ``pulse`` device, routed to the PulseAudio device ``spec`` names."""
    bridge = [d for d in usable if d.name == "pulse"]
    if not bridge:
        return []
    device = find_pulse_device(spec, kind)
    if device is None:
        return []
    return [replace(bridge[0], name=device.description, pulse=device)]


class MicrophoneSource:
    """The microphone as a source of 16 kHz frames (captured at the device's own rate).

    ``notify`` (settable after construction) hears, on the event loop, when the
    microphone stops or comes back and when dropouts pile up.
    """

    realtime = True
    polite = False

    def __init__(
        self,
        device: str | None = None,
        *,
        frame_ms: int = 20,
        sd: Any = None,
        xruns: XrunCounter | None = None,
        notify: Notify | None = None,
        watch_pulse: bool | None = None,
    ) -> None:
        self.device_spec = device
        self.frame_ms = frame_ms
        self._sd = sd
        self._stream: Any = None
        # None is the end-of-stream marker that aclose() puts in; _STOPPED says the
        # stream ended on its own (PortAudio gave up on the device).
        self._queue: asyncio.Queue[Samples | object | None] = asyncio.Queue(maxsize=500)
        self.overflows = 0
        self.latency = 0.0
        self.info: DeviceInfo | None = None
        self.xruns = xruns or XrunCounter()
        self.notify = notify
        #: Times the microphone was reopened after it stopped.
        self.reopened = 0
        self._watch_pulse = sd is None if watch_pulse is None else watch_pulse
        self._watch: CaptureWatch | None = None
        self._listening = False
        self._closed = False
        self._rate = 0
        self._generation = 0  # which stream is the current one

    def open(self) -> None:
        """Open and start the input stream (raises :class:`AudioDeviceError`)."""
        sd = self._sd or load_sounddevice()
        self._sd = sd
        self.info = find_device(self.device_spec, "input", sd)
        loop = asyncio.get_running_loop()
        self._open_stream(loop)
        if self._watch_pulse and self._watch is None:

            def from_watch(message: str, level: str) -> None:
                loop.call_soon_threadsafe(self._say, message, level)

            # Started now, so it knows the microphone before anyone can unplug it.
            self._watch = CaptureWatch.start_if_available(
                from_watch, expected=self.info.pulse.name if self.info.pulse else None
            )

    def _open_stream(self, loop: asyncio.AbstractEventLoop) -> None:
        """Open the stream of :attr:`info` (blocking: a worker thread may call it)."""
        sd, info = self._sd, self.info
        assert info is not None
        rate = int(info.default_rate)

        def deliver(block: Samples | object) -> None:
            try:
                self._queue.put_nowait(block)
            except asyncio.QueueFull:  # the loop stalled: drop rather than grow without end
                self.overflows += 1

        def callback(indata: Any, frames: int, time: Any, status: Any) -> None:
            # PortAudio's thread: copy the block (its buffer is reused) and hand it over.
            if self._listening:
                self.xruns.count_flags(status)
            loop.call_soon_threadsafe(deliver, indata[:, 0].copy())

        self._generation += 1
        generation = self._generation

        def finished() -> None:
            # Only a stream that ends on its own: not one va closed, not an older one.
            if not self._closed and generation == self._generation:
                loop.call_soon_threadsafe(deliver, _STOPPED)

        try:
            with captured_stderr(), routed_to(info.pulse):
                stream = sd.InputStream(
                    device=info.index,
                    samplerate=rate,
                    channels=1,
                    dtype="float32",
                    blocksize=frame_samples(rate, self.frame_ms),
                    callback=callback,
                    finished_callback=finished,
                )
                stream.start()
        except (sd.PortAudioError, ValueError) as exc:
            raise AudioDeviceError(
                f"cannot open the microphone {info.name!r} ({exc}); {HINT}"
            ) from None
        self._stream = stream
        self.latency = float(getattr(stream, "latency", 0.0) or 0.0)
        self._rate = rate

    def _close_stream(self) -> None:
        self._generation += 1  # its finished callback is no news
        stream, self._stream = self._stream, None
        if stream is not None:
            with captured_stderr(), contextlib.suppress(Exception):
                # closing a dead device must not fail the exit (nor print)
                stream.stop()
                stream.close()

    async def frames(self) -> AsyncGenerator[AudioFrame, None]:
        loop = asyncio.get_running_loop()
        if self._stream is None:
            self.open()
        rate = self._rate
        resampler = StreamResampler(rate, PIPELINE_RATE)
        size = frame_samples(PIPELINE_RATE, self.frame_ms)
        pending = np.zeros(0, dtype=np.float32)
        emitted = 0
        reported = loop.time()
        self._listening = True
        try:
            while not self._closed:
                try:
                    block = await asyncio.wait_for(self._queue.get(), timeout=STALL_S)
                except TimeoutError:
                    block = _STALLED
                if block is None:
                    return
                if block is _STOPPED or block is _STALLED:
                    await self._reopen("no audio for a while" if block is _STALLED else "stopped")
                    if self._rate != rate:
                        rate = self._rate
                        resampler = StreamResampler(rate, PIPELINE_RATE)
                    continue
                if loop.time() - reported >= 1.0:
                    reported = loop.time()
                    self.xruns.report(self.notify)
                if self._watch is not None and self._watch.muted:
                    continue  # the server put a stand-in (a monitor) where the mic was
                assert isinstance(block, np.ndarray)
                pending = np.concatenate([pending, resampler.push(block)])
                while len(pending) >= size:
                    yield AudioFrame(pending[:size], PIPELINE_RATE, emitted / PIPELINE_RATE)
                    pending = pending[size:]
                    emitted += size
        finally:
            self._listening = False

    async def _reopen(self, why: str) -> None:
        """The stream stopped: say so, then reopen it with backoff until it works."""
        assert self.info is not None
        name = self.info.name
        self._say(f"the microphone {name!r} stopped ({why}): trying to reopen it", "warning")
        await asyncio.to_thread(self._close_stream)
        while not self._closed and self._queue.qsize():  # what the old stream left
            self._queue.get_nowait()
        loop = asyncio.get_running_loop()
        attempt = 0
        while not self._closed:
            await asyncio.sleep(REOPEN_BACKOFF_S[min(attempt, len(REOPEN_BACKOFF_S) - 1)])
            attempt += 1
            try:
                await asyncio.to_thread(self._open_stream, loop)
            except AudioDeviceError as exc:
                logger.info("reopening the microphone failed (attempt %d): %s", attempt, exc)
                continue
            self.reopened += 1
            self._say(f"the microphone {name!r} is back: listening again", "info")
            return

    def _say(self, message: str, level: str) -> None:
        # INFO: the notice is what the user sees; the log (file) keeps a copy.
        logger.info("%s", message, extra={"notice_level": level})
        if self.notify is not None:
            with contextlib.suppress(Exception):  # a broken view must not stop the capture
                self.notify(message, level)

    async def aclose(self) -> None:
        self._closed = True
        watch, self._watch = self._watch, None
        if watch is not None:
            await asyncio.to_thread(watch.stop)
        self._close_stream()
        with contextlib.suppress(asyncio.QueueFull):
            self._queue.put_nowait(None)


#: Queue markers: the stream ended on its own / delivered nothing for STALL_S.
_STOPPED = object()
_STALLED = object()


class SpeakerSink(BufferedSink):
    """The speaker: PortAudio's callback pulls blocks from the playback buffer."""

    def __init__(
        self,
        device: str | None = None,
        *,
        frame_ms: int = 20,
        sd: Any = None,
        xruns: XrunCounter | None = None,
        notify: Notify | None = None,
    ) -> None:
        sd = sd or load_sounddevice()
        self.info = find_device(device, "output", sd)
        rate = int(self.info.default_rate)
        super().__init__(rate)
        self.xruns = xruns or XrunCounter()
        self.notify = notify

        def callback(outdata: Any, frames: int, time: Any, status: Any) -> None:
            if status and self.buffer.pending:  # a gap in audio being played, not in silence
                self.xruns.count_flags(status)
            outdata[:, 0] = self.play_block(frames)

        try:
            with captured_stderr(), routed_to(self.info.pulse):
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

    async def drain(self) -> None:
        await super().drain()
        self.xruns.report(self.notify)

    async def aclose(self) -> None:
        await super().aclose()
        stream, self._stream = self._stream, None
        if stream is not None:
            with captured_stderr(), contextlib.suppress(Exception):
                stream.stop()
                stream.close()

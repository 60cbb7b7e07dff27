"""``va bench voice --device``: the same turns, through real sound devices.

The in-memory scenario hands WAV frames straight to the voice loop; here the
question is played (``paplay``) into a virtual microphone of a private
PulseAudio (:mod:`voice_agent_cli.speech.virtual_devices`), va captures it
through PortAudio and ALSA's pulse plugin, and answers on a virtual speaker.
So the figures include the sound stack's own buffering on both sides::

    paplay ─► va_mic_wire ─► va_mic ─► PortAudio ─► voice loop ─► PortAudio ─► va_speaker
                  │                                                              │
                  └──────── loopback ─► va_observer ◄─ loopback (same latency) ──┘
                                            │
                                       parec: one recording, one clock

Per reply path, stages get a ``:device`` suffix: va's own timings (as ``va
talk`` shows them) and ``e2e_acoustic``: in the observer's recording, from the
end of the question to the first sound of the answer.
"""

from __future__ import annotations

import asyncio
import os
import tempfile
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_agent_cli.observe import metrics
from voice_agent_cli.speech.audio import PIPELINE_RATE, read_audio, write_wav
from voice_agent_cli.speech.build import voice_options
from voice_agent_cli.speech.devices import MicrophoneSource, SpeakerSink, reinitialize_portaudio
from voice_agent_cli.speech.events import VOICE_STAGES, VoiceEvent, VoiceTurn
from voice_agent_cli.speech.pipeline import VoiceSession
from voice_agent_cli.speech.virtual_devices import start_virtual_audio
from voice_agent_cli.speech.xruns import XrunCounter

if TYPE_CHECKING:
    from collections.abc import Iterator

    from voice_agent_cli.bench import BenchOptions, ScenarioRun
    from voice_agent_cli.config import Settings
    from voice_agent_cli.core.agent import Agent
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.stt import SpeechToText
    from voice_agent_cli.speech.tts import TextToSpeech
    from voice_agent_cli.speech.virtual_devices import VirtualAudio

#: Sound in the observer's recording: 10 ms windows louder than this (RMS).
_LEVEL = 0.01
#: Quieter stretches shorter than this are pauses within one side's speech.
_PAUSE_S = 0.3
#: The longest a turn may take before the bench gives up.
_TURN_TIMEOUT_S = 120.0


@contextmanager
def virtual_devices() -> Iterator[VirtualAudio]:
    """A private PulseAudio for the run, this process pointed at it, everything undone after."""
    audio = start_virtual_audio()
    saved = {name: os.environ.get(name) for name in audio.environment()}
    try:
        os.environ.update(audio.environment())
        reinitialize_portaudio()  # PortAudio lists ALSA's pulse devices as they are now
        yield audio
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        audio.stop()


async def device_stage(
    path: str,
    agent: Agent,
    clips: list[Samples],
    settings: Settings,
    stt: SpeechToText,
    tts: TextToSpeech,
    options: BenchOptions,
    result: ScenarioRun,
    audio: VirtualAudio,
) -> None:
    """Warm-up then measured turns, each a fresh conversation, spoken into the virtual mic."""
    observer = audio.add_observer()
    xruns = XrunCounter(metrics=metrics.current())  # the scenario's registry
    microphone = MicrophoneSource(audio.mic, frame_ms=settings.profile.voice.frame_ms, xruns=xruns)
    microphone.open()
    speaker = SpeakerSink(audio.speaker, xruns=xruns)
    turns: asyncio.Queue[VoiceTurn] = asyncio.Queue()

    def observe(event: VoiceEvent) -> None:
        if isinstance(event, VoiceTurn):
            turns.put_nowait(event)

    session = VoiceSession(
        agent,
        microphone,
        speaker,
        stt=stt,
        tts=tts,
        options=voice_options(settings.profile, echo="off"),
        observer=observe,
    )
    running = asyncio.create_task(session.run(), name=f"bench-voice-device-{path}")
    try:
        with tempfile.TemporaryDirectory(prefix="va-bench-") as folder:
            wavs = [_wav(Path(folder) / f"q{n}.wav", clip) for n, clip in enumerate(clips)]
            for index in range(options.warmup + options.iterations):
                agent.reset()
                recording = Path(folder) / f"turn{index}.wav"
                with audio.recording(recording, source=observer):
                    await asyncio.to_thread(audio.say, wavs[index % len(wavs)])
                    turn = await _next_turn(turns, running)
                    await asyncio.sleep(0.3)  # the tail of the answer, then stop recording
                if index < options.warmup:
                    continue
                for stage in VOICE_STAGES:
                    if stage in turn.timings:
                        result.sample(f"{stage}:{path}:device", turn.timings[stage])
                acoustic = acoustic_e2e(recording)
                if acoustic is None:
                    raise RuntimeError(
                        f"bench voice --device: no answer heard in turn {index + 1} ({path})"
                    )
                result.sample(f"e2e_acoustic:{path}:device", acoustic)
    finally:
        await microphone.aclose()
        await asyncio.gather(running, return_exceptions=True)
        await speaker.aclose()
    result.figures[f"device:{path}"] = _device_figures(microphone, speaker, xruns)


async def _next_turn(turns: asyncio.Queue[VoiceTurn], running: asyncio.Task[Any]) -> VoiceTurn:
    waiting = asyncio.ensure_future(turns.get())
    done, _ = await asyncio.wait(
        {waiting, running}, timeout=_TURN_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
    )
    if waiting not in done:
        waiting.cancel()
        if running in done:
            running.result()  # the loop's own failure, as it is
        raise RuntimeError(f"bench voice --device: no turn within {_TURN_TIMEOUT_S:.0f} s")
    return waiting.result()


def _wav(path: Path, clip: Samples) -> Path:
    write_wav(path, clip, PIPELINE_RATE)
    return path


def acoustic_e2e(recording: Path) -> float | None:
    """Milliseconds from the end of the question to the start of the answer, or None.

    The recording holds the question, a silence (the end of turn and va's
    work) and the answer: the first sound after the first long silence.
    """
    samples = read_audio(recording)
    window = 160  # 10 ms at 16 kHz
    count = len(samples) // window
    if count == 0:
        return None
    rms = np.sqrt(np.mean(samples[: count * window].reshape(count, window) ** 2, axis=1))
    loud = np.flatnonzero(rms > _LEVEL)
    if len(loud) == 0:
        return None
    gaps = np.flatnonzero(np.diff(loud) * 0.01 > _PAUSE_S)
    if len(gaps) == 0:
        return None
    question_end = loud[gaps[0]] + 1
    answer_start = loud[gaps[0] + 1]
    return float((answer_start - question_end) * 10.0)


def _device_figures(microphone: Any, speaker: Any, xruns: Any) -> dict[str, Any]:
    return {
        "microphone": microphone.info.name if microphone.info else None,
        "speaker": speaker.info.name,
        "input_latency_ms": round(microphone.latency * 1000, 1),
        "output_latency_ms": round(speaker.output_latency * 1000, 1),
        "xruns": xruns.total,
    }

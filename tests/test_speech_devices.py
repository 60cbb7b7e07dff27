"""The microphone and speaker path, through a fake ``sounddevice`` module.

The fake drives the real :mod:`voice_agent_cli.speech.devices` code from
threads, as PortAudio's callbacks would, so the live path is covered without
a sound card; what no test machine has (a real device) stays this thin.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import jiwer
import numpy as np
import pytest

from tests.speech_fixtures import silence, timeline, words
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.errors import EXIT_UNAVAILABLE, AudioDeviceError
from voice_agent_cli.speech import devices
from voice_agent_cli.speech.audio import resample
from voice_agent_cli.speech.devices import (
    MicrophoneSource,
    SpeakerSink,
    find_device,
    list_devices,
    load_sounddevice,
)
from voice_agent_cli.speech.events import VoiceEvent, VoiceTurn
from voice_agent_cli.speech.pipeline import VoiceOptions, VoiceSession
from voice_agent_cli.speech.stt import FasterWhisperSTT
from voice_agent_cli.speech.tts import PiperTTS
from voice_agent_cli.testing.fake_audio import FakeSoundDevice
from voice_agent_cli.testing.fake_llm import FakeLLM


def test_devices_are_listed_with_their_defaults() -> None:
    listed = list_devices(FakeSoundDevice())
    assert [(d.name, d.inputs, d.outputs) for d in listed] == [
        ("Built-in Microphone", 1, 0),
        ("Built-in Speakers", 0, 2),
    ]
    assert listed[0].default_input and listed[1].default_output
    assert listed[0].as_json()["default_rate"] == 48000.0


def test_devices_are_chosen_by_default_name_or_index() -> None:
    sd = FakeSoundDevice()
    assert find_device(None, "input", sd).name == "Built-in Microphone"
    assert find_device(None, "output", sd).name == "Built-in Speakers"
    assert find_device("speak", "output", sd).index == 1
    assert find_device("0", "input", sd).index == 0
    with pytest.raises(AudioDeviceError, match=r"no speaker matches 'usb'.*--list-devices"):
        find_device("usb", "output", sd)
    with pytest.raises(AudioDeviceError, match="no microphone matches"):
        find_device("1", "input", sd)  # a speaker is not a microphone


def test_no_device_is_a_clear_error_that_suggests_files() -> None:
    with pytest.raises(AudioDeviceError) as caught:
        find_device(None, "input", FakeSoundDevice(devices=[]))
    assert "no microphone found" in str(caught.value)
    assert "--input" in str(caught.value)
    assert caught.value.exit_code == EXIT_UNAVAILABLE


async def test_a_device_that_fails_to_open_is_reported() -> None:
    sd = FakeSoundDevice(fail_open="Device unavailable [PaErrorCode -9985]")
    with pytest.raises(AudioDeviceError, match="cannot open the microphone 'Built-in Microphone'"):
        MicrophoneSource(sd=sd).open()
    with pytest.raises(AudioDeviceError, match="cannot open the speaker"):
        SpeakerSink(sd=sd)


def test_missing_portaudio_or_sounddevice_is_explained(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_portaudio(name: str) -> object:
        raise OSError("PortAudio library not found")

    monkeypatch.setattr(devices.importlib, "import_module", no_portaudio)
    with pytest.raises(AudioDeviceError, match=r"libportaudio2.*--input"):
        load_sounddevice()

    def not_installed(name: str) -> object:
        raise ImportError(name)

    monkeypatch.setattr(devices.importlib, "import_module", not_installed)
    with pytest.raises(AudioDeviceError, match="sounddevice package is not installed"):
        load_sounddevice()


async def test_the_microphone_yields_16k_frames_from_its_own_rate() -> None:
    capture = resample(np.sin(np.arange(16000) / 5).astype(np.float32) * 0.3, 16000, 48000)
    sd = FakeSoundDevice(capture=capture, time_scale=4.0)
    microphone = MicrophoneSource(sd=sd, frame_ms=20)
    microphone.open()
    frames = []
    async for frame in microphone.frames():
        frames.append(frame)
        if len(frames) == 10:
            await microphone.aclose()
    assert all(f.sample_rate == 16000 and len(f.samples) == 320 for f in frames)
    assert [round(f.timestamp, 2) for f in frames[:3]] == [0.0, 0.02, 0.04]
    assert sd.streams[0].samplerate == 48000 and sd.streams[0].blocksize == 960


@pytest.mark.slow
async def test_a_voice_turn_from_the_microphone_to_the_speaker(
    say: Callable[[str], np.ndarray], whisper_loaded: None, voice_loaded: None
) -> None:
    question = "What is the capital of France?"
    capture = resample(timeline(silence(0.3), say(question), silence(2)), 16000, 48000)
    sd = FakeSoundDevice(capture=capture, time_scale=2.0)
    microphone = MicrophoneSource(sd=sd)
    microphone.open()
    speaker = SpeakerSink(sd=sd)
    agent = Agent(FakeLLM(["Paris."]), AgentOptions(system_prompt="test"))
    tasks: list[asyncio.Task[None]] = []

    def observe(event: VoiceEvent) -> None:
        if isinstance(event, VoiceTurn):  # one turn is enough: hang up
            tasks.append(asyncio.ensure_future(microphone.aclose()))

    session = VoiceSession(
        agent,
        microphone,
        speaker,
        stt=FasterWhisperSTT(),
        tts=PiperTTS(),
        options=VoiceOptions(echo="aec"),
        observer=observe,
    )
    try:
        [turn] = await asyncio.wait_for(session.run(), timeout=30)
    finally:
        await asyncio.gather(*tasks)
        await speaker.aclose()
    assert jiwer.wer(words(question), words(turn.user)) == 0
    assert turn.reply == "Paris."
    played = np.concatenate(sd.played)
    assert np.abs(played).max() > 0.05  # the reply came out of the speaker, at 44.1 kHz
    assert sd.streams[1].samplerate == 44100

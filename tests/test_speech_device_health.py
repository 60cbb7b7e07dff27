"""The device layer's health: a quiet terminal, dropouts counted, a lost microphone reopened."""

from __future__ import annotations

import asyncio
import ctypes
import ctypes.util
import logging
import os
from collections.abc import Callable
from pathlib import Path
from types import SimpleNamespace

import pytest

from tests.environment import missing
from tests.speech_fixtures import silence, timeline, tone, write
from voice_agent_cli.bench._voice_device import acoustic_e2e
from voice_agent_cli.observe import metrics
from voice_agent_cli.speech import devices
from voice_agent_cli.speech.devices import MicrophoneSource
from voice_agent_cli.speech.quiet import captured_stderr, quiet_inference_logs, silence_alsa
from voice_agent_cli.speech.xruns import XrunCounter
from voice_agent_cli.testing.fake_audio import FakeSoundDevice


def test_native_noise_on_fd_2_goes_to_the_log_and_the_rest_gets_through(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="va.audio")
    with captured_stderr():
        # As C code writes: straight to the file descriptor, past sys.stderr.
        os.write(2, b"ALSA lib pcm.c:8570:(snd_pcm_recover) underrun occurred\n")
        os.write(2, b"Expression 'ret' failed in 'src/hostapi/alsa/pa_linux_alsa.c'\n")
        os.write(2, b"Traceback (most recent call last): something of va's own\n")
    err = capfd.readouterr().err
    assert "ALSA lib" not in err and "Expression" not in err
    assert "Traceback (most recent call last): something of va's own" in err
    logged = [r.getMessage() for r in caplog.records]
    assert any("underrun occurred" in message for message in logged)


def test_alsa_errors_are_logged_not_printed(
    capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    if ctypes.util.find_library("asound") is None:
        missing("needs libasound2 (installed with libportaudio2)")
    caplog.set_level(logging.DEBUG, logger="va.audio")
    assert silence_alsa()
    alsa = ctypes.CDLL(ctypes.util.find_library("asound"))
    pcm = ctypes.c_void_p()
    # A real ALSA error, reported through its error handler: an unknown PCM.
    assert alsa.snd_pcm_open(ctypes.byref(pcm), b"no_such_device_va", 0, 0) < 0
    assert "ALSA lib" not in capfd.readouterr().err
    assert any("no_such_device_va" in r.getMessage() for r in caplog.records)


def test_inference_libraries_log_only_errors() -> None:
    import ctranslate2

    quiet_inference_logs()
    assert ctranslate2.get_log_level() == logging.ERROR


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def test_dropouts_are_counted_and_warned_about_once() -> None:
    clock = _Clock()
    registry = metrics.Metrics()
    counter = XrunCounter(threshold=3, clock=clock, metrics=registry)
    notices: list[tuple[str, str]] = []
    counter.count_flags(SimpleNamespace(output_underflow=True, input_overflow=False))
    counter.count_flags(None)  # a callback with nothing to report
    counter.report(lambda *notice: notices.append(notice))
    assert notices == []
    for _ in range(3):
        counter.count_flags(SimpleNamespace(output_underflow=False, input_overflow=True))
    counter.report(lambda *notice: notices.append(notice))
    counter.add("input_overflow")
    counter.report(lambda *notice: notices.append(notice))
    assert registry.counter("audio_xruns", kind="input_overflow") == 4
    assert registry.counter("audio_xruns", kind="output_underflow") == 1
    [(message, level)] = notices
    assert level == "warning"
    assert message.startswith("the sound system dropped audio 4 times in the last minute")
    assert "gaps in va's voice" in message and "lost microphone audio" in message


def test_dropouts_spread_over_time_are_no_warning() -> None:
    clock = _Clock()
    counter = XrunCounter(threshold=3, clock=clock)
    notices: list[tuple[str, str]] = []
    for _ in range(10):
        counter.add("output_underflow")
        clock.now += 30
        counter.report(lambda *notice: notices.append(notice))
    assert notices == [] and counter.total == 10


async def _until(condition: Callable[[], bool]) -> None:
    async with asyncio.timeout(10):
        while not condition():  # noqa: ASYNC110 - what PortAudio's thread changes
            await asyncio.sleep(0.01)


async def test_a_microphone_that_stops_is_reopened_with_notices(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(devices, "REOPEN_BACKOFF_S", (0.05, 0.1))
    sd = FakeSoundDevice(time_scale=4.0)
    notices: list[tuple[str, str]] = []
    microphone = MicrophoneSource(sd=sd, notify=lambda *notice: notices.append(notice))
    microphone.open()
    frames = 0

    async def listen() -> None:
        nonlocal frames
        async for _ in microphone.frames():
            frames += 1

    listening = asyncio.create_task(listen())
    try:
        await _until(lambda: frames >= 5)
        sd.unplug()
        await asyncio.sleep(0.5)  # a few attempts fail while it is out
        assert notices[0] == (
            "the microphone 'Built-in Microphone' stopped (stopped): trying to reopen it",
            "warning",
        )
        before = frames
        sd.plug()
        await _until(lambda: len(notices) >= 2 and frames >= before + 5)
    finally:
        await microphone.aclose()
        await asyncio.wait_for(listening, timeout=5)
    assert notices[1] == ("the microphone 'Built-in Microphone' is back: listening again", "info")
    assert microphone.reopened == 1
    assert len([s for s in sd.streams if s.kind == "input"]) == 2


def test_the_answer_is_timed_from_the_end_of_the_question(tmp_path: Path) -> None:
    recording = write(
        tmp_path / "observer.wav",
        timeline(silence(0.3), tone(1.0), silence(0.1), tone(0.5), silence(0.75), tone(1.0)),
    )
    assert acoustic_e2e(recording) == pytest.approx(750, abs=20)
    assert acoustic_e2e(write(tmp_path / "quiet.wav", silence(2))) is None

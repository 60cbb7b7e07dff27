"""Speech to text: a TTS -> STT round trip comes back word for word; engines fail clearly."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import jiwer
import numpy as np
import pytest

from tests.speech_fixtures import noise, silence, timeline, words
from voice_agent_cli.bench.voice import WER_SENTENCES, normalise
from voice_agent_cli.errors import EXIT_UNAVAILABLE, DependencyUnavailable, ModelUnavailable
from voice_agent_cli.speech.settings import STTSettings
from voice_agent_cli.speech.stt import FasterWhisperSTT, OpenAIWhisperSTT, build_stt

Say = Callable[[str], np.ndarray]

#: The first sentences of ``va bench voice``'s round trip (the bench speaks all twelve).
SENTENCES = WER_SENTENCES[:6]


@pytest.mark.slow
async def test_round_trip_of_the_projects_own_voice_is_nearly_word_for_word(
    say: Say, whisper_loaded: None
) -> None:
    stt = FasterWhisperSTT()
    heard = []
    for sentence in SENTENCES:
        transcript = await stt.transcribe(timeline(silence(0.2), say(sentence), silence(0.2)))
        assert transcript.duration_ms > 0
        heard.append(transcript.text)
    wer = jiwer.wer([normalise(s) for s in SENTENCES], [normalise(h) for h in heard])
    assert wer <= 0.05, list(zip(SENTENCES, heard, strict=True))


@pytest.mark.slow
async def test_a_second_voice_is_understood(
    espeak: Callable[[str], np.ndarray], whisper_loaded: None
) -> None:
    # Robotic speech: tiny.en gets most words (MODELS.md: ~76%), not always all.
    transcript = await FasterWhisperSTT().transcribe(espeak("Hello, what time is it?"))
    assert "what time" in words(transcript.text)


@pytest.mark.slow
async def test_silence_and_noise_transcribe_to_nothing(whisper_loaded: None) -> None:
    stt = FasterWhisperSTT()
    for quiet in (silence(2), noise(2, 0.05)):
        assert (await stt.transcribe(quiet)).text == ""


def test_a_missing_model_directory_is_reported(tmp_path: Path) -> None:
    stt = FasterWhisperSTT(tmp_path)
    with pytest.raises(ModelUnavailable, match="no CTranslate2 Whisper model"):
        from voice_agent_cli.speech.stt import load_whisper

        load_whisper(stt.model_path)


async def test_openai_whisper_without_the_extra_says_how_to_install_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setitem(sys.modules, "whisper", None)  # as if the extra were not installed
    stt = build_stt(STTSettings(engine="openai-whisper"))
    with pytest.raises(DependencyUnavailable, match=r"voice-agent-cli\[openai-whisper\]") as err:
        await stt.start()
    assert err.value.exit_code == EXIT_UNAVAILABLE


async def test_openai_whisper_never_downloads_missing_weights(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    class FakeWhisper:
        @staticmethod
        def load_model(*args: object, **kwargs: object) -> None:
            raise AssertionError("must not be called: it would download")

    monkeypatch.setitem(sys.modules, "whisper", FakeWhisper)
    stt = OpenAIWhisperSTT("base.en", download_root=tmp_path)
    assert stt.weights_path() == tmp_path / "base.en.pt"
    with pytest.raises(ModelUnavailable, match="no openai-whisper weights"):
        await stt.start()


def test_the_profile_selects_the_engine_and_its_options(tmp_path: Path) -> None:
    stt = build_stt(STTSettings(beam_size=2, language=None))
    assert isinstance(stt, FasterWhisperSTT)
    assert (stt.beam_size, stt.language, stt.compute_type) == (2, None, "int8")
    assert stt.name == "faster-whisper:model"
    other = build_stt(STTSettings(engine="openai-whisper", model_path=tmp_path / "w.pt"))
    assert isinstance(other, OpenAIWhisperSTT)
    assert other.weights_path() == tmp_path / "w.pt"

"""Text to speech: sentences cut from a streamed reply, piper synthesis, speed, the cache."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_agent_cli.errors import ModelUnavailable
from voice_agent_cli.speech.sentences import SentenceSplitter, speakable
from voice_agent_cli.speech.settings import TTSSettings
from voice_agent_cli.speech.tts import PiperTTS, build_tts, load_voice


def stream(text: str, size: int = 3, **options: int) -> list[str]:
    """Feed ``text`` in ``size``-character deltas; collect sentences as they complete."""
    splitter = SentenceSplitter(**options)
    out: list[str] = []
    for i in range(0, len(text), size):
        out.extend(splitter.push(text[i : i + size]))
    return out + splitter.flush()


def test_a_streamed_reply_is_cut_into_sentences_as_they_complete() -> None:
    splitter = SentenceSplitter()
    assert splitter.push("Paris is the capital") == []
    assert splitter.push(" of France. It has") == ["Paris is the capital of France."]
    assert splitter.push(" two million people! Want") == ["It has two million people!"]
    assert splitter.flush() == ["Want"]


def test_abbreviations_decimals_and_dotted_names_stay_whole() -> None:
    text = "Dr. Smith measured 3.5 kg, e.g. on Monday. Really? Yes."
    assert stream(text) == [
        "Dr. Smith measured 3.5 kg, e.g. on Monday.",
        "Really?",
        "Yes.",
    ]


def test_a_run_on_sentence_is_cut_at_a_comma_so_audio_can_start() -> None:
    text = "First, " + "a very long clause " * 8 + "and then the end."
    first = stream(text, max_chars=60)[0]
    assert first.endswith(",") and len(first) <= 60


def test_markdown_is_not_read_aloud() -> None:
    assert speakable("**Bold** and `code` and\n# Title") == "Bold and code and Title"
    assert stream("- one\n- two\n") == ["one", "two"]


@pytest.mark.slow
async def test_piper_speaks_a_sentence_and_speed_changes_its_length(voice_loaded: None) -> None:
    normal = PiperTTS(cache_size=0)
    fast = PiperTTS(speed=1.5, cache_size=0)
    a = await normal.synthesize("The quick brown fox jumps over the lazy dog.")
    b = await fast.synthesize("The quick brown fox jumps over the lazy dog.")
    assert a.sample_rate == 22050 and a.audio.dtype.name == "float32"
    assert 1.5 < a.seconds < 4.5
    assert b.seconds < a.seconds * 0.8
    assert not a.cached


@pytest.mark.slow
async def test_short_sentences_are_cached(voice_loaded: None) -> None:
    tts = PiperTTS(cache_size=2)
    first = await tts.synthesize("Hello!")
    again = await tts.synthesize("Hello!")
    assert again.cached and tts.cache_hits == 1 and again.duration_ms == 0.0
    assert (again.audio == first.audio).all()
    await tts.warm(["One.", "Two."])  # evicts "Hello!" (least recently used)
    assert not (await tts.synthesize("Hello!")).cached


def test_a_missing_voice_is_reported(tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailable, match="piper voice not found"):
        load_voice(tmp_path / "none.onnx")


def test_the_profile_selects_voice_and_speed() -> None:
    tts = build_tts(TTSSettings(speed=1.25, cache_size=7))
    assert isinstance(tts, PiperTTS)
    assert tts.name == "piper:en_US-joe-medium"
    assert (tts.speed, tts.cache_size) == (1.25, 7)

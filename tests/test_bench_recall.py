"""Word recall of strangers' voices (``va bench recall``, ``stt_recall`` of ``va bench voice``)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from voice_agent_cli.bench import BenchOptions
from voice_agent_cli.bench._recall import (
    HARVARD_SENTENCES,
    VOICES,
    Tally,
    espeak,
    measure_recall,
    normalise,
    recall_of,
)
from voice_agent_cli.bench._turns import plain_chat_settings
from voice_agent_cli.speech.stt import FasterWhisperSTT
from voice_agent_cli.speech.tts import PiperTTS

Say = Callable[[str], np.ndarray]


def test_recall_counts_the_words_that_came_back() -> None:
    # "canoe" misheard, "planks" lost: 6 of 8 words; an extra word costs recall nothing.
    heard = "the birch can do slid on the smooth"
    assert recall_of([HARVARD_SENTENCES[0]], [heard]) == 0.75
    assert recall_of(["Two blue fish."], ["2 blue fish, well"]) == 1.0
    assert recall_of(["Two blue fish."], [""]) == 0.0


def test_recall_is_pooled_over_words_not_averaged_over_sentences() -> None:
    tally = Tally()
    tally.add("one two three four", "one two three four")
    tally.add("five six", "")
    assert (tally.words, tally.hits, tally.recall) == (6, 4, 0.6667)
    assert tally.misheard == [("five six", "")]


def test_numbers_compare_as_words() -> None:
    assert normalise("The girl sold 50 bonds on the 3rd, at 10.") == (
        "the girl sold fifty bonds on the third at ten"
    )


def test_every_stranger_speaks_at_sixteen_kilohertz() -> None:
    lengths = [len(espeak("Read verse out loud for pleasure.", voice)) for voice in VOICES]
    # The slow voice takes longest, the fast one least: the speeds are real.
    assert min(lengths) == lengths[1] and max(lengths) == lengths[0]
    assert all(1.0 < n / 16000 < 4.0 for n in lengths)


@pytest.mark.slow
async def test_the_projects_own_voice_is_recalled_nearly_in_full(
    say: Say, whisper_loaded: None
) -> None:
    stt = FasterWhisperSTT()
    sentences = HARVARD_SENTENCES[:3]
    heard = [(await stt.transcribe(say(s))).text for s in sentences]
    # ("canoe slid" comes back as "can use lid" even in this voice.)
    assert recall_of(sentences, heard) >= 0.9, heard


@pytest.mark.slow
async def test_recall_through_the_voice_loop_and_the_stt_alone(
    whisper_loaded: None, voice_loaded: None
) -> None:
    settings = plain_chat_settings(None, {})
    stt, tts = FasterWhisperSTT(), PiperTTS()
    times: list[float] = []
    figures = await measure_recall(settings, stt, tts, sentences=2, stt_times=times)

    assert set(figures["per_voice"]) == {voice.name for voice in VOICES}
    assert figures["clips"] == 2 * len(VOICES) == len(times)
    assert figures["words"] == len(VOICES) * (8 + 8)
    # tiny.en on espeak-ng: most words, rarely all (docs/voice.md has the figures).
    assert 0.5 <= figures["recall"] <= 1.0
    assert 0.5 <= figures["model_recall"] <= 1.0
    assert all(t > 0 for t in times)


@pytest.mark.slow
async def test_the_bench_scenario_reports_recall_and_stt_time(
    whisper_loaded: None, voice_loaded: None
) -> None:
    from voice_agent_cli.bench.recall import run

    result = await run(BenchOptions(iterations=1, warmup=1))
    assert len(result.stages["stt_time"]) == len(VOICES)
    assert result.figures["stt"].startswith("faster-whisper:")
    assert 0.0 < result.figures["recall"] <= 1.0

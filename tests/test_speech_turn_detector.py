"""The semantic end of turn: the 0.5B Qwen scores whether the words so far end a sentence."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_agent_cli.speech.turn_detector import QwenTurnDetector, normalized

#: First halves people pause after, and the whole questions (va bench voice's false cuts).
HALVES = [
    ("Can you tell me?", "Can you tell me what time it is in Tokyo?"),
    ("What is the capital of?", "What is the capital of Australia?"),
    ("How far is it from London?", "How far is it from London to Paris?"),
    ("So what do you think about", "So what do you think about the new plan?"),
]


@pytest.fixture
def detector() -> QwenTurnDetector:
    detector = QwenTurnDetector("qwen2.5-coder-0.5b", timeout_s=30)
    detector.load()
    return detector


def test_whisper_punctuation_is_no_evidence() -> None:
    assert normalized("What is the capital of?") == "what is the capital of"
    assert normalized("  What's  the time, please... ") == "what's the time please"


@pytest.mark.parametrize(("half", "whole"), HALVES)
async def test_a_sentence_cut_in_the_middle_scores_far_below_the_whole(
    detector: QwenTurnDetector, half: str, whole: str
) -> None:
    cut, ended = await detector.end_probability(half), await detector.end_probability(whole)
    assert cut is not None and ended is not None
    assert cut < 0.01 < 0.1 < ended, (half, cut, whole, ended)


async def test_scores_do_not_depend_on_what_was_scored_before(detector: QwenTurnDetector) -> None:
    # The model's cache keeps the tokens it has seen; a score reuses the shared head.
    before = "Would you like anything else?"
    first = await detector.end_probability("what is the capital of australia", before=before)
    await detector.end_probability("what is the capital of", before="Hello!")
    await detector.end_probability("tell me a joke about cats")
    again = await detector.end_probability("what is the capital of australia", before=before)
    assert first is not None and again == pytest.approx(first, abs=1e-4)


async def test_without_a_model_there_is_no_score_and_no_error(tmp_path: Path) -> None:
    missing = QwenTurnDetector(tmp_path / "no-such-model.gguf")
    missing.load()
    assert await missing.end_probability("what is the capital of") is None


async def test_no_words_no_score(detector: QwenTurnDetector) -> None:
    assert await detector.end_probability(" ... ") is None

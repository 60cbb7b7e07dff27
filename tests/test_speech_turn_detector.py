"""The semantic end of turn: the 0.5B Qwen scores whether the words so far end a sentence."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from voice_agent_cli.speech.turn_detector import QwenTurnDetector, closing_tokens, normalized

#: First halves people pause after, and the whole questions (va bench voice's false cuts).
HALVES = [
    ("Can you tell me?", "Can you tell me what time it is in Tokyo?"),
    ("What is the capital of?", "What is the capital of Australia?"),
    ("How far is it from London to?", "How far is it from London to Paris?"),
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


class Vocabulary:
    """A model's tokenizer as closing_tokens sees it: counts the tokens it detokenizes."""

    def __init__(self, pieces: list[bytes]) -> None:
        self.pieces = pieces
        self.detokenized = 0

    def n_vocab(self) -> int:
        return len(self.pieces)

    def detokenize(self, tokens: list[int]) -> bytes:
        self.detokenized += len(tokens)
        return b"".join(self.pieces[token] for token in tokens)


PIECES = [b"Hello", b" world", b".", b" ?", b"...", b"!\n", b" the", b"\n"]


@pytest.fixture
def gguf(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("VA_MODELS_DIR", str(tmp_path / "store"))
    model = tmp_path / "tiny.gguf"
    model.write_bytes(b"GGUF" + bytes(60))
    return model


def test_closing_tokens_are_found_once_per_machine(gguf: Path) -> None:
    first = Vocabulary(PIECES)
    assert closing_tokens(first, gguf).tolist() == [2, 3, 5, 7]
    assert first.detokenized == len(PIECES)
    again = Vocabulary(PIECES)  # another process: the ids come from the store
    assert closing_tokens(again, gguf).tolist() == [2, 3, 5, 7]
    assert again.detokenized == 0


def test_a_torn_or_foreign_kept_file_is_scanned_again(gguf: Path) -> None:
    closing_tokens(Vocabulary(PIECES), gguf)
    [kept] = (gguf.parent / "store" / "closing-tokens").iterdir()
    foreign = kept.with_name("foreign.npy")
    np.save(foreign, np.array([3, 99]))  # ids beyond this vocabulary
    for damage in (b"", b"\x93NUMPY torn", foreign.read_bytes()):
        kept.write_bytes(damage)
        vocabulary = Vocabulary(PIECES)
        assert closing_tokens(vocabulary, gguf).tolist() == [2, 3, 5, 7]
        assert vocabulary.detokenized == len(PIECES)


def test_a_store_that_cannot_be_written_only_costs_a_scan(gguf: Path) -> None:
    (gguf.parent / "store").write_text("a file where the directory would go")
    assert closing_tokens(Vocabulary(PIECES), gguf).tolist() == [2, 3, 5, 7]

"""va bench voice measures what the user feels: from the acoustic end, first turns, cuts."""

from __future__ import annotations

import numpy as np
import pytest

from voice_agent_cli.bench import _turn_taking
from voice_agent_cli.bench._turn_taking import (
    PATH_STAGES,
    acoustic_end,
    false_cut_figures,
    felt_timings,
)
from voice_agent_cli.bench.voice import _buffered_settings
from voice_agent_cli.speech.events import VoiceTurn
from voice_agent_cli.speech.stt import FasterWhisperSTT
from voice_agent_cli.speech.tts import PiperTTS


def test_the_acoustic_end_is_the_last_sound_of_the_clip() -> None:
    clip = np.concatenate(
        [np.zeros(1600), 0.5 * np.ones(8000), 0.001 * np.ones(3200)]  # 0.1 s, 0.5 s, a hiss
    ).astype(np.float32)
    assert acoustic_end(clip, lead_s=0.3) == pytest.approx(0.3 + 0.1 + 0.5)


def test_timings_move_to_the_acoustic_end_and_still_add_up() -> None:
    stages = {"end_of_turn_delay": 416.0, "e2e_stt": 40.0, "e2e_llm": 300.0, "e2e_tts": 60.0}
    turn = VoiceTurn(
        index=1,
        user="Hi.",
        reply="Hello.",
        interrupted=False,
        timings={**stages, "e2e_latency": 816.0, "llm_ttft": 200.0},
        details={"speech_end_s": 1.25},
    )
    # The VAD's last speech chunk ended 50 ms after the sound did.
    felt = felt_timings(turn, sound_end=1.2)
    assert felt["vad_end_lag"] == pytest.approx(50.0)
    assert felt["e2e_latency"] == pytest.approx(866.0)
    assert sum(felt[stage] for stage in PATH_STAGES) == pytest.approx(felt["e2e_latency"])
    assert felt["llm_ttft"] == 200.0  # the engines' own times do not move


@pytest.mark.slow
@pytest.mark.parametrize(
    ("first", "rest"),
    [
        ("What is the capital of", "Spain?"),  # Whisper writes "of?": the rules catch it
        ("Can you tell me", "what time it is in Tokyo?"),  # only the turn detector does
    ],
)
async def test_a_question_that_trails_off_into_a_pause_is_not_cut(
    whisper_loaded: None,
    voice_loaded: None,
    monkeypatch: pytest.MonkeyPatch,
    first: str,
    rest: str,
) -> None:
    monkeypatch.setattr(_turn_taking, "PAUSED_QUESTIONS", ((first, rest),))
    monkeypatch.setattr(_turn_taking, "MID_PAUSES_MS", (700,))
    user, stt, tts = PiperTTS(deterministic=True), FasterWhisperSTT(), PiperTTS()

    figures = await false_cut_figures(user, stt, tts, _buffered_settings(None))

    assert figures["trials"] == 1
    assert (figures["false_cut_rate"], figures["cut"]) == (0.0, [])


@pytest.mark.slow
async def test_without_the_turn_detector_a_pause_after_a_whole_looking_phrase_cuts(
    whisper_loaded: None, voice_loaded: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The contrast: what the semantic end of turn is for.
    monkeypatch.setattr(
        _turn_taking, "PAUSED_QUESTIONS", (("Can you tell me", "what time it is in Tokyo?"),)
    )
    monkeypatch.setattr(_turn_taking, "MID_PAUSES_MS", (700,))
    monkeypatch.setenv("VA_VAD__SEMANTIC_END_OF_TURN", "false")
    user, stt, tts = PiperTTS(deterministic=True), FasterWhisperSTT(), PiperTTS()

    figures = await false_cut_figures(user, stt, tts, _buffered_settings(None))

    assert figures["false_cut_rate"] == 1.0

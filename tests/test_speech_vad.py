"""Silero VAD streamed chunk by chunk, and the endpointer's turn boundaries."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.speech_fixtures import noise, silence, timeline, tone
from voice_agent_cli.speech.audio import split_frames
from voice_agent_cli.speech.end_of_turn import sounds_unfinished
from voice_agent_cli.speech.endpointing import (
    Endpointer,
    EndpointEvent,
    EndpointingOptions,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    UtteranceDiscarded,
    UtteranceEnded,
)
from voice_agent_cli.speech.vad import CHUNK, SileroVAD

Say = Callable[[str], np.ndarray]


def endpoints(audio: np.ndarray, **options: object) -> list[EndpointEvent]:
    endpointer = Endpointer(EndpointingOptions(**options))  # type: ignore[arg-type]
    events: list[EndpointEvent] = []
    for frame in split_frames(audio, 16000, frame_ms=20):
        events.extend(endpointer.push(frame))
    events.extend(endpointer.flush())
    return events


def utterances(events: list[EndpointEvent]) -> list[UtteranceEnded]:
    return [e for e in events if isinstance(e, UtteranceEnded)]


def test_speech_scores_high_and_silence_noise_hum_score_low(say: Say) -> None:
    vad = SileroVAD()
    speech = [p for _, p in vad.push(say("The quick brown fox jumps over the lazy dog."))]
    assert np.mean(np.array(speech) > 0.5) > 0.6
    for quiet in (silence(2), noise(2, 0.05), noise(2, 0.3, seed=1), tone(2, 120)):
        vad.reset()
        scores = [p for _, p in vad.push(quiet)]
        assert max(scores) < 0.5


def test_streaming_matches_faster_whispers_batch_run(say: Say) -> None:
    from faster_whisper.vad import get_vad_model

    audio = timeline(silence(0.3), say("Hello there, how are you?"), silence(0.3))
    audio = audio[: len(audio) // CHUNK * CHUNK]
    batch = np.asarray(get_vad_model()(audio.copy())).reshape(-1)
    streamed = [p for _, p in SileroVAD().push(audio)]
    assert np.allclose(batch, streamed, atol=1e-4)


def test_one_utterance_is_one_turn_with_its_end_of_turn_delay(say: Say) -> None:
    speech = say("What is the capital of France?")
    events = endpoints(timeline(silence(0.5), speech, silence(1.5)), end_silence_ms=400)

    kinds = [type(e) for e in events]
    assert kinds[0] is SpeechStarted
    assert SpeechPaused in kinds
    [ended] = utterances(events)
    utterance = ended.utterance
    assert utterance.start == pytest.approx(0.5, abs=0.15)
    assert utterance.speech_end == pytest.approx(0.5 + len(speech) / 16000, abs=0.25)
    assert 400 <= utterance.end_of_turn_delay_ms < 550
    # The turn's audio keeps a little before the speech (pre-roll) and all of it.
    assert len(utterance.audio) / 16000 > utterance.speech_seconds


def test_the_end_of_turn_silence_is_configurable(say: Say) -> None:
    audio = timeline(silence(0.3), say("Good morning."), silence(1.5))
    [short] = utterances(endpoints(audio, end_silence_ms=300))
    [long] = utterances(endpoints(audio, end_silence_ms=1000))
    assert 300 <= short.utterance.end_of_turn_delay_ms < 450
    assert 1000 <= long.utterance.end_of_turn_delay_ms < 1150


def test_a_long_pause_splits_turns_and_a_short_one_does_not(say: Say) -> None:
    first, second = say("Turn on the lights."), say("And close the door.")
    apart = timeline(silence(0.3), first, silence(1.2), second, silence(1))
    together = timeline(silence(0.3), first, silence(0.2), second, silence(1))

    assert len(utterances(endpoints(apart, end_silence_ms=500))) == 2
    events = endpoints(together, end_silence_ms=500)
    assert len(utterances(events)) == 1


def test_speech_that_resumes_voids_the_pause(say: Say) -> None:
    audio = timeline(silence(0.3), say("One."), silence(0.3), say("Two."), silence(1))
    events = endpoints(audio, end_silence_ms=600, pause_ms=128)
    kinds = [type(e) for e in events]
    assert kinds.index(SpeechPaused) < kinds.index(SpeechResumed) < kinds.index(UtteranceEnded)


@pytest.mark.parametrize(
    "quiet",
    [silence(3), noise(3, 0.05), noise(3, 0.3, seed=2), tone(3, 50, 0.5), tone(3, 1000, 0.2)],
    ids=["silence", "soft-noise", "loud-noise", "hum", "beep"],
)
def test_no_turn_on_silence_or_noise(quiet: np.ndarray) -> None:
    assert endpoints(quiet) == []


def test_a_blip_shorter_than_the_minimum_speech_is_no_turn(say: Say) -> None:
    word = say("Hey.")
    events = endpoints(timeline(silence(0.3), word, silence(1)), min_speech_ms=2000)
    assert utterances(events) == []
    assert any(isinstance(e, UtteranceDiscarded) for e in events)


def test_speech_running_to_the_end_of_the_stream_still_ends_the_turn(say: Say) -> None:
    events = endpoints(timeline(silence(0.3), say("Are you there?")))
    assert len(utterances(events)) == 1


def test_a_turn_longer_than_the_maximum_is_cut(say: Say) -> None:
    talk = say("This is a rather long sentence that goes on and on without a pause.")
    events = endpoints(timeline(silence(0.2), talk, silence(1)), max_utterance_s=1.5)
    assert utterances(events)[0].utterance.speech_seconds <= 1.6


@pytest.mark.parametrize(
    ("text", "unfinished"),
    [
        ("What is the capital of", True),
        ("What is the capital of?", True),
        ("I want to go to the...", True),
        ("Book a table for two and", True),
        ("Well, um", True),
        ("So,", True),
        ("What is the capital of France?", False),
        ("Turn on the lights.", False),
        ("What is it like?", False),
        ("Do you know what time it is?", False),
        ("", False),
    ],
)
def test_words_that_trail_off_sound_unfinished(text: str, unfinished: bool) -> None:
    assert sounds_unfinished(text) is unfinished

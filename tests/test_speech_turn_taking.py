"""Taking turns sooner: the silence the words need, and the reply started during the pause.

The room tests run the real voice loop (Silero VAD, faster-whisper, piper) in
a fake room in real time; when the agent spoke is checked on the room's clock
(stream seconds), never on the wall clock.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.speech_fixtures import silence, timeline, words
from tests.test_speech_pipeline import make_agent, run_room
from voice_agent_cli.config import load_settings
from voice_agent_cli.speech.audio import split_frames
from voice_agent_cli.speech.build import warm_buffered_replies
from voice_agent_cli.speech.end_of_turn import end_of_turn_silence, sounds_complete, verdict
from voice_agent_cli.speech.endpointing import (
    Endpointer,
    EndpointingOptions,
    SpeechPaused,
    UtteranceEnded,
)
from voice_agent_cli.speech.events import AgentText, UserTranscript
from voice_agent_cli.speech.files import FileSink
from voice_agent_cli.speech.sentences import SentenceSplitter
from voice_agent_cli.speech.speaker import ReplySpeaker
from voice_agent_cli.speech.tts import PiperTTS
from voice_agent_cli.testing.fake_audio import FakeRoom
from voice_agent_cli.testing.fake_llm import FakeLLM

Say = Callable[[str], np.ndarray]
SILENCES = {"default_ms": 400, "complete_ms": 250, "unfinished_ms": 900}


@pytest.mark.parametrize(
    ("text", "silence_ms"),
    [
        ("What is the capital of Italy?", 250),
        ("Turn on the lights.", 250),
        ("What's the weather like?", 250),
        ("Book a table for two and", 900),
        ("I want to go to the...", 900),
        ("What is the capital of?", 900),  # Whisper's "?" on a phrase cut off
        ("Well,", 900),
        ("hello there", 400),  # no punctuation: Whisper is not sure either
        ("", 400),
    ],
)
def test_the_silence_that_ends_a_turn_depends_on_the_words(text: str, silence_ms: int) -> None:
    assert end_of_turn_silence(verdict(text), **SILENCES) == silence_ms
    assert sounds_complete(text) is (silence_ms == 250)


@pytest.mark.parametrize(
    ("text", "probability", "expected"),
    [
        ("Can you tell me?", 0.0004, "unfinished"),  # the model hears the rest coming
        ("Can you tell me what time it is in Tokyo?", 0.83, "complete"),
        ("hello there", 0.4, "open"),  # no punctuation: the default silence
        ("Book a table for two and", 0.6, "unfinished"),  # the rules are not overruled
        ("Set a timer.", None, "complete"),  # no model (yet): the rules alone
    ],
)
def test_the_turn_detector_marks_words_unfinished_below_its_threshold(
    text: str, probability: float | None, expected: str
) -> None:
    assert verdict(text, probability, unfinished_below=0.01) == expected


def test_the_endpointer_waits_the_silence_it_is_told_for_this_utterance(say: Say) -> None:
    endpointer = Endpointer(EndpointingOptions(end_silence_ms=400))
    recording = timeline(silence(0.3), say("What time is it?"), silence(1.5))
    ended: list[UtteranceEnded] = []
    for frame in split_frames(recording, 16000, frame_ms=20):
        for event in endpointer.push(frame):
            if isinstance(event, SpeechPaused):
                endpointer.end_silence_ms = 900  # as if the words had trailed off
            elif isinstance(event, UtteranceEnded):
                ended.append(event)
    [utterance] = [e.utterance for e in ended]
    assert 900 <= utterance.end_of_turn_delay_ms < 1000
    assert endpointer.end_silence_ms == 400  # the next utterance starts from the default


@pytest.mark.slow
async def test_a_reply_started_in_the_pause_is_heard_only_once_the_turn_has_ended(
    say: Say, whisper_loaded: None, voice_loaded: None
) -> None:
    question = say("What is the capital of France?")
    room = FakeRoom(timeline(silence(0.3), question), tail_s=7.0)
    llm = FakeLLM(["Paris."])
    agent = make_agent(llm)

    # The endpointer alone would wait 6 s; a complete question needs 250 ms.
    turns, recorder = await run_room(
        agent, room, endpointing=EndpointingOptions(end_silence_ms=6000), complete_silence_ms=250
    )

    [turn] = turns
    first_sound = room.speaker.sound_intervals()[0][0]
    # Stream time: the turn ended once the words were known (not after 6 s), and
    # the reply, ready or not, was heard only after that.
    ended = turn.details["speech_end_s"] + turn.timings["end_of_turn_delay"] / 1000
    assert 250 <= turn.timings["end_of_turn_delay"] < 6000
    assert first_sound >= ended - 0.02
    e2e = turn.timings["e2e_latency"]
    parts = ("end_of_turn_delay", "e2e_stt", "e2e_llm", "e2e_tts")
    assert sum(turn.timings[p] for p in parts) == pytest.approx(e2e, abs=0.5)
    # The transcript and the reply were shown once, after the turn ended.
    assert len(recorder.of(UserTranscript)) == 1
    assert "".join(e.text for e in recorder.of(AgentText)) == "Paris."


@pytest.mark.slow
async def test_speech_after_the_pause_withdraws_the_reply_started_in_it(
    say: Say, whisper_loaded: None, voice_loaded: None
) -> None:
    recording = timeline(
        silence(0.3), say("What is the capital of France?"), silence(4.0), say("And of Spain?")
    )
    room = FakeRoom(recording, tail_s=6.5)
    llm = FakeLLM()  # echoes what it was asked
    agent = make_agent(llm)

    # A long silence ends the turn: the 4 s pause (time for the transcript and the
    # guess to start, even on a loaded machine) is a pause, and the reply started in
    # it (the words so far were a complete question) is withdrawn.
    turns, recorder = await run_room(
        agent,
        room,
        endpointing=EndpointingOptions(end_silence_ms=6000),
        complete_silence_ms=6000,
    )

    [turn] = turns
    assert {"france", "spain"} <= set(words(turn.user).split())
    assert len(llm.requests) == 2  # the withdrawn guess, then the whole question
    assert [m.role for m in agent.conversation.messages] == ["user", "assistant"]
    assert "spain" in words(agent.conversation.messages[0].content)
    assert [words(e.text) for e in recorder.of(UserTranscript)] == [words(turn.user)]


async def test_pre_buffered_replies_are_synthesised_as_the_speaker_will_cut_them(
    voice_loaded: None,
) -> None:
    profile = load_settings(None).profile  # the default profile, with its ready replies
    replies = [r.reply for r in profile.buffer.responses if "{" not in r.reply]
    tts = PiperTTS()
    await warm_buffered_replies(tts, profile)
    hits_before, pieces = tts.cache_hits, 0

    # Each reply arrives whole, as the buffer gives it: every piece of it is ready.
    for reply in replies:
        splitter = SentenceSplitter(first_clause_words=4)
        async with ReplySpeaker(tts, FileSink(None), lambda _: None, splitter=splitter) as speaker:
            speaker.add_text(reply)
            speaker.finish()
            await speaker.spoken_all()
        pieces += len(speaker.spoken)
    assert replies and tts.cache_hits - hits_before == pieces

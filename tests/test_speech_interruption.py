"""Barge-in that a backchannel does not trigger: hold, judge, then cut or resume.

The room tests run the real voice loop (Silero VAD, faster-whisper, piper) in a
fake room in real time, with the user's sounds laid over the agent's reply on
the room's clock; what the speaker played is checked in stream time.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.speech_fixtures import silence, timeline
from tests.test_speech_pipeline import LONG_REPLY, make_agent, run_room
from voice_agent_cli.config import Profile
from voice_agent_cli.speech.build import voice_options
from voice_agent_cli.speech.events import BargeIn, FalseInterruption, UserSpeaking
from voice_agent_cli.speech.interruption import InterruptionOptions
from voice_agent_cli.speech.io import PlaybackBuffer
from voice_agent_cli.testing.fake_audio import FakeRoom
from voice_agent_cli.testing.fake_llm import FakeLLM

Say = Callable[[str], np.ndarray]


@pytest.mark.parametrize(
    ("heard", "interrupts"),
    [
        ("Yeah.", False),
        ("Uh-huh.", False),
        ("Mm-hmm, right.", False),
        ("Okay, got it.", False),
        ("", False),  # a cough: no words at all
        ("Ow.", False),  # how Whisper heard a short "uh-huh" (a test once cut on it)
        ("Ohh, hmmm.", False),
        ("Huh, ha!", False),
        ("Oh no, stop.", True),
        ("Stop.", True),
        ("Yeah, wait.", True),
        ("Hold on a second.", True),
    ],
)
def test_backchannel_words_are_no_interruption(heard: str, interrupts: bool) -> None:
    assert InterruptionOptions().is_interruption(heard) is interrupts


def test_more_words_can_be_required_and_the_list_changed() -> None:
    strict = InterruptionOptions(min_words=2, backchannel=("yeah", "fine"))
    assert strict.words_beyond_backchannel("Yeah, fine, stop.") == ["stop"]
    assert not strict.is_interruption("Fine, stop.")
    assert strict.is_interruption("Stop it now.")


def test_the_profile_sets_when_speech_interrupts() -> None:
    profile = Profile.model_validate(
        {
            "voice": {
                "min_interruption_ms": 800,
                "min_interruption_words": 2,
                "backchannel_words": ["Yeah", "Si"],
                "false_interruption_timeout_ms": 1500,
            }
        }
    )
    options = voice_options(profile).interruption
    assert (options.min_duration_ms, options.min_words, options.resume_timeout_ms) == (
        800,
        2,
        1500,
    )
    assert options.backchannel == ("yeah", "si")
    assert voice_options(Profile()).interruption.resume_false_interruption


def test_a_paused_buffer_plays_on_from_the_same_sample() -> None:
    buffer = PlaybackBuffer()
    reply = np.arange(1, 1001, dtype=np.float32)
    buffer.push(reply)
    played = [buffer.pull(300)]
    buffer.paused = True
    held, real = buffer.pull(300)
    assert real == 0 and not held.any() and buffer.pending == 700
    buffer.paused = False
    played += [buffer.pull(300), buffer.pull(300), buffer.pull(300)]
    out = np.concatenate([block[:real] for block, real in played])
    np.testing.assert_array_equal(out, reply)  # nothing lost, nothing repeated


def _stops_after(room: FakeRoom, at: float) -> float:
    """When the speaker's sound that was playing at stream time ``at`` stopped."""
    return next(end for start, end in room.speaker.sound_intervals() if end > at)


@pytest.mark.slow
async def test_a_backchannel_or_a_cough_holds_the_reply_which_then_plays_on(
    say: Say, whisper_loaded: None, voice_loaded: None
) -> None:
    cough = say("Ha!")[:2400]  # 150 ms: the VAD starts on it, the endpointer drops it
    recording = timeline(silence(0.3), say("Tell me about Paris."))
    # Over the reply, however long the agent took to start it:
    cues = [(1.5, say("Yeah.")), (4.0, say("Uh-huh.")), (6.5, cough)]
    room = FakeRoom(recording, tail_s=2.0, cues=cues)
    agent = make_agent(FakeLLM([LONG_REPLY]))

    turns, recorder = await run_room(agent, room)

    # No sound over the reply became a turn.
    assert len(turns) == 1, [(t.user, t.reply[:40], t.details) for t in turns]
    [turn] = turns
    assert not turn.interrupted and turn.reply == LONG_REPLY
    assert not recorder.of(BargeIn)
    history = agent.conversation.messages
    assert [(m.role, m.interrupted) for m in history] == [("user", False), ("assistant", False)]
    assert history[1].content == LONG_REPLY
    # Every sound over the reply held it, and each hold ended in a resume.
    onsets = [e.at for e in recorder.of(UserSpeaking)][1:]
    resumed = recorder.of(FalseInterruption)
    assert len(onsets) >= 2 and len(resumed) == len(onsets), (onsets, resumed)
    assert turn.details["false_interruptions"] == len(resumed)
    for onset in onsets:  # the agent stopped talking over the user within 200 ms
        assert _stops_after(room, onset) <= onset + 0.2, (onset, room.speaker.sound_intervals())
    # The reply played on from where it stopped: every sample once, none dropped.
    assert room.speaker.played_seconds == pytest.approx(turn.details["reply_audio_s"], abs=0.02)


@pytest.mark.slow
async def test_a_short_real_word_cuts_the_reply(
    say: Say, whisper_loaded: None, voice_loaded: None
) -> None:
    recording = timeline(silence(0.3), say("Tell me about Paris."))
    room = FakeRoom(recording, tail_s=3.0, cues=[(1.5, say("Stop."))])
    llm = FakeLLM([LONG_REPLY], responder=lambda request: "Okay.")
    agent = make_agent(llm)

    turns, recorder = await run_room(agent, room)

    first, second = turns
    assert first.interrupted and "stop" in second.user.lower()
    assert not recorder.of(FalseInterruption)
    onset = recorder.of(UserSpeaking)[1].at
    stopped = _stops_after(room, onset)
    assert stopped <= onset + 0.2, (onset, room.speaker.sound_intervals())
    # After the cut the reply never came back: the next sound is the answer to "Stop."
    later = [start for start, _ in room.speaker.sound_intervals() if start > stopped]
    assert not later or later[0] > onset + 0.5
    assert LONG_REPLY.startswith(first.reply) and 0 < len(first.reply) < len(LONG_REPLY)
    history = agent.conversation.messages
    assert [m.role for m in history] == ["user", "assistant", "user", "assistant"]
    assert history[1].interrupted and history[1].content == first.reply

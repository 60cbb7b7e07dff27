"""Whisper hears with context: the profile's hotwords, and the conversation as its prompt.

A robotic voice saying a rare name is where tiny.en fails on its own ("call
Shimon" for "call Siobhan"); the same audio with the name in the hotwords, or
in the agent's last question, comes back spelled right. Each test shows both
sides, so it is the context that made the difference.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest

from tests.speech_fixtures import noise, silence, timeline, words
from voice_agent_cli.contracts.messages import ChatMessage
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.speech.files import FileSink, FileSource
from voice_agent_cli.speech.pipeline import VoiceOptions, VoiceSession
from voice_agent_cli.speech.settings import STTSettings
from voice_agent_cli.speech.stt import (
    PROMPT_CHARS,
    FasterWhisperSTT,
    PromptedSTT,
    build_stt,
    conversation_prompt,
    in_conversation,
)
from voice_agent_cli.speech.tts import PiperTTS
from voice_agent_cli.testing.fake_llm import FakeLLM

Speak = Callable[[str], np.ndarray]


def test_the_prompt_is_the_agents_last_words() -> None:
    messages = [
        ChatMessage(role="user", content="Call someone for me."),
        ChatMessage(role="assistant", content="Should I call Siobhan\nor Nakamura?"),
        ChatMessage(role="user", content="Hmm."),
    ]
    assert conversation_prompt(messages) == "Should I call Siobhan or Nakamura?"
    assert conversation_prompt([]) == ""


def test_a_long_reply_gives_its_end_in_whole_words() -> None:
    reply = " ".join(f"word{n}" for n in range(200)) + " Which one?"
    prompt = conversation_prompt([ChatMessage(role="assistant", content=reply)])
    assert prompt.endswith("Which one?")
    assert len(prompt) <= PROMPT_CHARS
    assert prompt.split()[0].startswith("word") and prompt.split()[0] in reply.split()


def test_the_profile_sets_hotwords_context_and_temperatures() -> None:
    stt = build_stt(STTSettings(hotwords=["Siobhan", " Nakamura ", ""], context=False))
    assert isinstance(stt, FasterWhisperSTT)
    assert stt.hotwords == "Siobhan, Nakamura"
    assert not stt.takes_prompt
    assert stt.temperatures == (0.0,)  # no hotter re-decodes unless asked
    hotter = build_stt(STTSettings(temperature_fallback=True))
    assert isinstance(hotter, FasterWhisperSTT) and hotter.temperatures[-1] == 1.0
    agent = Agent(FakeLLM(), AgentOptions(system_prompt="You are a test."))
    assert in_conversation(stt, agent) is stt  # context off: the engine as it is
    assert isinstance(in_conversation(build_stt(STTSettings()), agent), PromptedSTT)


@pytest.mark.slow
async def test_hotwords_spell_a_name_tiny_en_mishears(espeak: Speak, whisper_loaded: None) -> None:
    clip = espeak("Please call Siobhan tomorrow.")
    plain = await FasterWhisperSTT().transcribe(clip)
    hinted = await FasterWhisperSTT(hotwords=["Siobhan"]).transcribe(clip)
    assert "siobhan" not in words(plain.text)
    assert words(hinted.text) == "please call siobhan tomorrow"


@pytest.mark.slow
async def test_context_invents_no_words_in_silence_or_noise(whisper_loaded: None) -> None:
    stt = FasterWhisperSTT(hotwords=["Siobhan", "Kubernetes"])
    for quiet in (silence(2), noise(2, 0.05)):
        heard = await stt.transcribe(quiet, prompt="Should I call Siobhan or Nakamura?")
        assert heard.text == ""


async def _second_turn_heard(espeak: Speak, *, context: bool) -> str:
    """The agent asks which name; the user answers with one. What did the loop hear?"""
    agent = Agent(
        FakeLLM(["Should I call Siobhan or Nakamura?", "Calling now."]),
        AgentOptions(system_prompt="You are a test."),
    )
    said = ("Call a friend.", "Call Siobhan.")
    session = VoiceSession(
        agent,
        FileSource([timeline(silence(0.3), espeak(text)) for text in said]),
        FileSink(None),
        stt=FasterWhisperSTT(context=context),
        tts=PiperTTS(),
        options=VoiceOptions(),
    )
    turns = await session.run()
    assert len(turns) == 2
    return words(turns[1].user)


@pytest.mark.slow
async def test_the_voice_loop_hears_the_answer_to_the_agents_question(
    espeak: Speak, whisper_loaded: None, voice_loaded: None
) -> None:
    assert "siobhan" not in await _second_turn_heard(espeak, context=False)
    assert await _second_turn_heard(espeak, context=True) == "call siobhan"

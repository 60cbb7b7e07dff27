"""No cold first turn: the voice loop listens while the models load.

The load is a task handed to the session (``va talk`` passes the real one);
here it is the real model load followed by a wait, so the user is sure to
finish speaking before it is done.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import numpy as np
import pytest

from tests.speech_fixtures import silence, timeline
from tests.test_speech_pipeline import make_agent
from voice_agent_cli.speech.build import load_engines
from voice_agent_cli.speech.pipeline import VoiceOptions, VoiceSession
from voice_agent_cli.speech.stt import FasterWhisperSTT
from voice_agent_cli.speech.tts import PiperTTS
from voice_agent_cli.testing.fake_audio import FakeRoom
from voice_agent_cli.testing.fake_llm import FakeLLM

Say = Callable[[str], np.ndarray]


@pytest.mark.slow
@pytest.mark.parametrize("load_s", [0.2, 4.0])
async def test_the_loop_listens_while_models_load_and_reports_the_load_apart(
    say: Say, whisper_loaded: None, voice_loaded: None, load_s: float
) -> None:
    stt, tts = FasterWhisperSTT(), PiperTTS()

    async def load() -> float:
        await load_engines(stt, tts)
        await asyncio.sleep(load_s)  # a big LLM still loading
        return load_s

    room = FakeRoom(timeline(silence(0.3), say("What is the capital of France?")), tail_s=2.0)
    agent = make_agent(FakeLLM(["Paris."]))
    ready = asyncio.create_task(load(), name="test-load")
    session = VoiceSession(
        agent, room.microphone, room.speaker, stt=stt, tts=tts, options=VoiceOptions(), ready=ready
    )
    async with session:
        [turn] = await session.run()

    assert "France" in turn.user and turn.reply == "Paris."
    assert turn.details["load_s"] == load_s
    if load_s > 2.0:  # the user finished long before: the turn waited, and says how long
        assert turn.timings["load_wait"] > 500
    else:  # loaded while the user was still speaking: nothing to wait for
        assert "load_wait" not in turn.timings

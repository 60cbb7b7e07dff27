"""Barge-in figures of ``va bench voice``: how fast the agent stops, and for what.

Each trial is one exchange in a full-duplex room run in real time (the fake
microphone and speaker of :mod:`voice_agent_cli.testing.fake_audio`, one
clock for both): the user asks a question, the agent answers with a long
scripted reply (real VAD, STT and TTS; a scripted LLM so every trial has a
reply to interrupt), and 1.5 s into the reply the user either backchannels
("Yeah.", a cough) or interrupts ("Wait, what about London?"). On the room's
clock, not the wall clock:

- ``cut_latency``: from the user's voice onset (the first sample above
  0.02, -34 dBFS) to the agent's voice stopping, for real interruptions;
- ``hold_latency``: the same for backchannels (the reply is held, then resumes);
- ``false_interruption_rate``: backchannels that cut the reply anyway;
- ``missed_interruption_rate``: real interruptions the reply played on through.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

import numpy as np

from voice_agent_cli.bench import ScenarioRun
from voice_agent_cli.bench._speech import spoken
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.speech.audio import PIPELINE_RATE
from voice_agent_cli.speech.pipeline import VoiceSession
from voice_agent_cli.testing.fake_audio import FakeRoom
from voice_agent_cli.testing.fake_llm import FakeLLM

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.pipeline import VoiceOptions
    from voice_agent_cli.speech.stt import SpeechToText
    from voice_agent_cli.speech.tts import TextToSpeech

#: What the agent says (about 8 s): long enough to be spoken over.
REPLY = (
    "Paris is the capital of France. It sits on the river Seine in the north of the country. "
    "About two million people live in the city itself, and many more around it."
)
QUESTION = "Tell me about Paris."
#: Sounds a listener makes that must not stop the agent ("" marks a cough: a short burst).
BACKCHANNELS = ("Yeah.", "Okay.", "Right.", "")
INTERRUPTIONS = ("Wait, what about London?", "Stop.", "Hold on a second.")
CUE_S = 1.5
ONSET_LEVEL = 0.02


async def interruption_stage(
    user: TextToSpeech,
    stt: SpeechToText,
    tts: TextToSpeech,
    options: VoiceOptions,
    result: ScenarioRun,
) -> dict[str, Any]:
    """Run every trial once; samples go to ``result``, rates are returned as figures."""
    question = await spoken(user, QUESTION)
    cough = (await spoken(user, "Ha!"))[:2400]  # 150 ms: a click, a cough
    false_cuts, missed = 0, 0
    for text in BACKCHANNELS:
        sound = await spoken(user, text) if text else cough
        cut, stopped_after = await _trial(question, sound, stt, tts, options)
        false_cuts += cut
        if stopped_after is not None:
            result.sample("hold_latency", stopped_after)
    for text in INTERRUPTIONS:
        cut, stopped_after = await _trial(question, await spoken(user, text), stt, tts, options)
        missed += not cut
        if stopped_after is not None:
            result.sample("cut_latency", stopped_after)
    return {
        "trials": len(BACKCHANNELS) + len(INTERRUPTIONS),
        "false_interruption_rate": round(false_cuts / len(BACKCHANNELS), 3),
        "missed_interruption_rate": round(missed / len(INTERRUPTIONS), 3),
        "min_interruption_ms": options.interruption.min_duration_ms,
    }


async def _trial(
    question: Samples,
    sound: Samples,
    stt: SpeechToText,
    tts: TextToSpeech,
    options: VoiceOptions,
) -> tuple[bool, float | None]:
    """One exchange with ``sound`` over the reply: (the reply was cut, ms to silence)."""
    lead = np.zeros(PIPELINE_RATE * 3 // 10, dtype=np.float32)
    room = FakeRoom(np.concatenate([lead, question]), tail_s=1.5, cues=[(CUE_S, sound)])
    agent = Agent(
        FakeLLM([REPLY], responder=lambda request: "Okay."),
        AgentOptions(system_prompt="You are a voice assistant."),
    )
    session = VoiceSession(agent, room.microphone, room.speaker, stt=stt, tts=tts, options=options)
    async with session:
        turns = await session.run()
    cut = bool(turns) and turns[0].interrupted
    if not room.cue_times:
        return cut, None  # the agent never spoke: nothing to measure
    loud = np.flatnonzero(np.abs(sound) > ONSET_LEVEL)
    onset = room.cue_times[0] + (loud[0] / PIPELINE_RATE if len(loud) else 0.0)
    ends = [end for start, end in room.speaker.sound_intervals() if start <= onset < end]
    # The agent was silent at the onset (between sentences): it did not talk over the user.
    stopped_after = (ends[0] - onset) * 1000 if ends else 0.0
    return cut, round(stopped_after, 1)

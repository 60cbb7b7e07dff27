"""What ``va bench voice`` measures of turn-taking, as the user feels it.

- **From the acoustic end of speech.** The voice loop times a turn from the
  end of the VAD's last speech chunk; the bench knows where the clip's sound
  really ends (the last sample above -34 dBFS) and moves ``end_of_turn_delay``
  and ``e2e_latency`` to that point (``vad_end_lag`` is the difference), so
  the stages still add up: e2e = end_of_turn_delay + e2e_stt + e2e_llm + e2e_tts.
- **The first turn.** A fresh agent answers its first question while its models
  load in the background, as in ``va talk``: ``first_turn_e2e`` is that turn's
  own latency, the wait for the models (``load_wait``, when the question was
  over before they were ready) reported beside it, not mixed in.
- **False cuts.** Questions with a pause in the middle ("Can you tell me ...
  what time it is in Tokyo?"), with pauses either side of the end-of-turn
  silence: a false cut is the agent answering the first half (more than one
  turn, or a turn cut short by the rest of the question).
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_agent_cli.bench import ScenarioRun
from voice_agent_cli.bench._speech import spoken
from voice_agent_cli.compose.agent import open_agent
from voice_agent_cli.speech.audio import PIPELINE_RATE
from voice_agent_cli.speech.build import (
    SPOKEN_TURN_LEAD_S,
    load_models,
    spoken_turn,
    turn_detector,
    voice_options,
)
from voice_agent_cli.speech.events import VOICE_STAGES
from voice_agent_cli.speech.pipeline import VoiceSession
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing.fake_audio import FakeRoom

if TYPE_CHECKING:
    from voice_agent_cli.config import Profile, Settings
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.events import VoiceTurn
    from voice_agent_cli.speech.options import VoiceOptions
    from voice_agent_cli.speech.stt import SpeechToText
    from voice_agent_cli.speech.tts import TextToSpeech

#: The stages of the path to the first audio; they add up to ``e2e_latency``.
PATH_STAGES = ("end_of_turn_delay", "e2e_stt", "e2e_llm", "e2e_tts")
#: Louder than this (-34 dBFS) is sound.
SOUND_LEVEL = 0.02

#: Questions said in two halves, with a pause between (where people do pause).
PAUSED_QUESTIONS = (
    ("Can you tell me", "what time it is in Tokyo?"),
    ("I would like to book a table", "for two people tonight."),
    ("What is the capital of", "Australia?"),
    ("Remind me to call my mother", "tomorrow morning."),
)
#: Pauses in the middle (ms): shorter and longer than the end-of-turn silence.
MID_PAUSES_MS = (300, 600)


def acoustic_end(clip: Samples, lead_s: float) -> float:
    """Stream time (s) of the last sound in ``clip``, which starts ``lead_s`` in."""
    loud = np.flatnonzero(np.abs(clip) > SOUND_LEVEL)
    return lead_s + (loud[-1] + 1 if len(loud) else len(clip)) / PIPELINE_RATE


def felt_timings(turn: VoiceTurn, sound_end: float) -> dict[str, float]:
    """The turn's timings from the acoustic end of speech (see the module doc)."""
    timings = dict(turn.timings)
    lag = (float(turn.details["speech_end_s"]) - sound_end) * 1000
    timings["vad_end_lag"] = round(lag, 1)
    for stage in ("end_of_turn_delay", "e2e_latency"):
        if stage in timings:
            timings[stage] = round(timings[stage] + lag, 1)
    return timings


def sample_turn(result: ScenarioRun, path: str, timings: dict[str, float]) -> None:
    """Sample every voice stage of one turn as ``stage:path``."""
    for stage in (*VOICE_STAGES, *PATH_STAGES[1:], "vad_end_lag"):
        if stage in timings:
            result.sample(f"{stage}:{path}", timings[stage])


async def first_turn(
    path: str,
    agent: Any,
    clip: Samples,
    settings: Settings,
    stt: SpeechToText,
    tts: TextToSpeech,
    result: ScenarioRun,
) -> VoiceTurn:
    """The first question to a fresh agent, its models loading meanwhile (as ``va talk``)."""
    models = load_models(agent, stt, tts, turn_detector(settings.profile))
    loading = asyncio.create_task(models, name="bench-load-models")
    turn = await spoken_turn(agent, clip, settings.profile, stt, tts, ready=loading)
    timings = felt_timings(turn, acoustic_end(clip, SPOKEN_TURN_LEAD_S))
    load_wait = timings.get("load_wait", 0.0)
    if "e2e_latency" in timings:
        result.sample(f"first_turn_e2e:{path}", round(timings["e2e_latency"] - load_wait, 1))
    path_stages = (*PATH_STAGES, "transcription_delay", "llm_ttft")
    result.figures[f"first_turn:{path}"] = {
        "load_s": turn.details.get("load_s"),
        "load_wait_ms": load_wait,
        **{stage: timings[stage] for stage in path_stages if stage in timings},
    }
    return turn


async def false_cut_figures(
    user: TextToSpeech, stt: SpeechToText, tts: TextToSpeech, settings: Settings
) -> dict[str, Any]:
    """Ask every paused question once per pause; how often the agent cut in."""
    cuts: list[str] = []
    trials = 0
    options = voice_options(settings.profile, echo="off")
    if options.turn_detector is not None:
        await asyncio.to_thread(options.turn_detector.load)  # as in a session under way
    async with open_agent(settings, llm=FakeLLM(responder=lambda _: "Sure, I can help.")) as agent:
        for first, rest in PAUSED_QUESTIONS:
            halves = [_trimmed(await spoken(user, first)), _trimmed(await spoken(user, rest))]
            for pause_ms in MID_PAUSES_MS:
                pause = np.zeros(PIPELINE_RATE * pause_ms // 1000, dtype=np.float32)
                agent.reset()
                clip = np.concatenate([halves[0], pause, halves[1]])
                turns = await _heard(agent, clip, settings.profile, options, stt, tts)
                trials += 1
                if len(turns) != 1 or turns[0].interrupted:
                    cuts.append(f"{first} / {rest} ({pause_ms} ms)")
    return {
        "trials": trials,
        "false_cut_rate": round(len(cuts) / trials, 3),
        "mid_pauses_ms": list(MID_PAUSES_MS),
        "cut": cuts,
    }


async def _heard(
    agent: Any,
    clip: Samples,
    profile: Profile,
    options: VoiceOptions,
    stt: SpeechToText,
    tts: TextToSpeech,
) -> list[VoiceTurn]:
    """Every turn the voice loop takes of ``clip``, said in a full-duplex room in real time.

    The user goes on after the pause whatever the agent does; an answer to the
    first half is heard (and cut by the rest of the question).
    """
    lead = np.zeros(PIPELINE_RATE * 3 // 10, dtype=np.float32)
    # Long enough after the question for the longest end of turn and a short reply.
    room = FakeRoom(
        np.concatenate([lead, clip]), tail_s=profile.vad.unfinished_silence_ms / 1000 + 2
    )
    session = VoiceSession(agent, room.microphone, room.speaker, stt=stt, tts=tts, options=options)
    async with session:
        return await session.run()


def _trimmed(clip: Samples) -> Samples:
    """The clip without its leading and trailing silence (so the pause is the pause)."""
    loud = np.flatnonzero(np.abs(clip) > SOUND_LEVEL)
    return clip[loud[0] : loud[-1] + 1] if len(loud) else clip

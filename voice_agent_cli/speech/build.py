"""Wire the voice loop from a profile: options, engines, and their loading.

The counterpart of :mod:`voice_agent_cli.compose.agent` for speech: ``va talk``,
``va join`` and ``va bench`` take the same STT, TTS and turn-taking settings
from the ``[voice]``, ``[vad]``, ``[stt]`` and ``[tts]`` sections.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING

from voice_agent_cli.errors import VAError
from voice_agent_cli.speech.endpointing import EndpointingOptions
from voice_agent_cli.speech.engine_imports import import_engine_modules
from voice_agent_cli.speech.files import FileSink, FileSource
from voice_agent_cli.speech.interruption import InterruptionOptions
from voice_agent_cli.speech.pipeline import EchoMode, VoiceOptions, VoiceSession
from voice_agent_cli.speech.sentences import SentenceSplitter
from voice_agent_cli.speech.stt import build_stt
from voice_agent_cli.speech.tts import build_tts
from voice_agent_cli.speech.turn_detector import QwenTurnDetector
from voice_agent_cli.speech.vad import load_vad_model

if TYPE_CHECKING:
    from voice_agent_cli.config import Profile
    from voice_agent_cli.core.agent import Agent
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.events import VoiceTurn
    from voice_agent_cli.speech.pipeline import TurnRunner
    from voice_agent_cli.speech.stt import SpeechToText
    from voice_agent_cli.speech.tts import TextToSpeech
    from voice_agent_cli.speech.turn_detector import TurnDetector

_logger = logging.getLogger("va.speech")

#: Where :func:`spoken_turn` starts the clip in the stream (seconds).
SPOKEN_TURN_LEAD_S = 0.3


def endpointing_options(profile: Profile) -> EndpointingOptions:
    """The endpointer thresholds of the profile's ``[vad]`` section."""
    vad = profile.vad
    return EndpointingOptions(
        threshold=vad.threshold,
        start_ms=vad.start_ms,
        end_silence_ms=vad.end_of_turn_silence_ms,
        min_speech_ms=vad.min_speech_ms,
        pre_roll_ms=vad.pre_roll_ms,
        max_utterance_s=vad.max_turn_s,
    )


def interruption_options(profile: Profile) -> InterruptionOptions:
    """When speech over the reply cuts it, from the profile's ``[voice]`` section."""
    voice = profile.voice
    return InterruptionOptions(
        resume_false_interruption=voice.resume_false_interruption,
        min_duration_ms=voice.min_interruption_ms,
        min_words=voice.min_interruption_words,
        backchannel=tuple(word.lower() for word in voice.backchannel_words),
        resume_timeout_ms=voice.false_interruption_timeout_ms,
    )


def voice_options(profile: Profile, *, echo: EchoMode | None = None) -> VoiceOptions:
    """Turn-taking options; ``echo`` overrides the profile (files need none)."""
    return VoiceOptions(
        endpointing=endpointing_options(profile),
        echo=echo or profile.voice.echo,
        barge_in=profile.voice.barge_in,
        interruption=interruption_options(profile),
        speculative_stt=profile.voice.speculative_stt,
        unfinished_silence_ms=profile.vad.unfinished_silence_ms,
        complete_silence_ms=profile.vad.complete_silence_ms,
        turn_detector=turn_detector(profile),
        unfinished_below=profile.vad.unfinished_below,
        first_clause_words=profile.voice.first_clause_words,
    )


def turn_detector(profile: Profile) -> TurnDetector | None:
    """The profile's semantic end of turn (``[vad] semantic_end_of_turn``), or ``None``.

    Its model loads in the background when a voice session starts, once per
    process (sessions share it).
    """
    vad = profile.vad
    if not vad.semantic_end_of_turn:
        return None

    return QwenTurnDetector(vad.end_of_turn_model)


def build_engines(profile: Profile) -> tuple[SpeechToText, TextToSpeech]:
    """The STT and TTS engines of the profile (not loaded yet)."""
    options = profile.providers
    return (
        build_stt(profile.stt, options.get(profile.stt.engine)),
        build_tts(profile.tts, options.get(profile.tts.engine)),
    )


async def load_engines(stt: SpeechToText, tts: TextToSpeech) -> None:
    """Load the VAD, STT and TTS models (each once per process), side by side."""
    await asyncio.to_thread(import_engine_modules)
    await asyncio.gather(stt.start(), tts.start(), asyncio.to_thread(load_vad_model))


async def load_models(
    agent: Agent,
    stt: SpeechToText,
    tts: TextToSpeech,
    turn_detector: TurnDetector | None = None,
) -> float:
    """Load and warm the LLM and the speech models side by side; returns the seconds taken.

    ``va talk`` runs this in the background while a microphone already listens,
    so the load happens while the user speaks, and is reported on its own
    (the first turn's ``load_s``, and a log line), not inside the first turn.
    The turn detector loads here too, rather than when the session starts:
    llama.cpp silences stdout and stderr while it loads a model, so loads
    belong in this window, before va says the models are ready.
    """
    began = time.perf_counter()
    loads = [_load_and_warm(agent), load_engines(stt, tts)]
    if turn_detector is not None:
        loads.append(_load_detector(turn_detector))
    await asyncio.gather(*loads)
    seconds = time.perf_counter() - began
    _logger.info("models loaded and warmed in %.2f s", seconds, extra={"load_s": round(seconds, 3)})
    return seconds


async def _load_detector(turn_detector: TurnDetector) -> None:
    await asyncio.to_thread(import_engine_modules)  # not beside the engines' first imports
    await asyncio.to_thread(turn_detector.load)


async def _load_and_warm(agent: Agent) -> None:
    await agent.start()
    await agent.warm_up()


async def warm_buffered_replies(tts: TextToSpeech, profile: Profile) -> None:
    """Synthesise the profile's fixed pre-buffered replies, so they play with no wait.

    Split as the reply speaker splits a reply that arrives whole (in sentences),
    so each piece is found in the voice's cache.
    """
    for response in profile.buffer.responses:
        if "{" in response.reply:  # a template ({time}): its words change
            continue
        splitter = SentenceSplitter()
        for sentence in [*splitter.push(response.reply), *splitter.flush()]:
            await tts.synthesize(sentence)


async def spoken_turn(
    agent: TurnRunner,
    clip: Samples,
    profile: Profile,
    stt: SpeechToText,
    tts: TextToSpeech,
    *,
    ready: asyncio.Task[float] | None = None,
) -> VoiceTurn:
    """Say ``clip`` (16 kHz) to ``agent`` through the whole voice loop, as a microphone would.

    The clip starts ``SPOKEN_TURN_LEAD_S`` into the stream and is fed at the pace of
    real time, followed by enough silence to end the turn; the reply goes to a sink
    that only measures it. ``ready``: the models still loading (see ``load_models``).
    Exactly one turn must come of it (``va bench voice`` and ``va eval`` rely on that).
    """
    turns = await spoken_turns(agent, clip, profile, stt, tts, ready=ready)
    if len(turns) != 1:
        raise VAError(f"the voice loop heard {len(turns)} turns in one utterance, expected one")
    return turns[0]


async def spoken_turns(
    agent: TurnRunner,
    clip: Samples,
    profile: Profile,
    stt: SpeechToText,
    tts: TextToSpeech,
    *,
    pace: bool = True,
    ready: asyncio.Task[float] | None = None,
) -> list[VoiceTurn]:
    """The turns the voice loop makes of ``clip``: one, or more if a pause split it.

    ``pace=False`` feeds the clip as fast as it is read, as ``va talk --input`` does;
    ``ready``: the models still loading (see ``load_models``).
    """
    gap_s = profile.vad.end_of_turn_silence_ms / 1000 + 0.6
    source = FileSource([clip], lead_s=SPOKEN_TURN_LEAD_S, gap_s=gap_s, pace=pace)
    session = VoiceSession(
        agent,
        source,
        FileSink(None),
        stt=stt,
        tts=tts,
        options=voice_options(profile, echo="off"),
        ready=ready,
    )
    return await session.run()

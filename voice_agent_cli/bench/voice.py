"""Bench scenario ``voice``: WAV in, WAV out, through the whole voice loop.

Each sample is one spoken question, fed at the pace of real time (as a
microphone would) through Silero VAD endpointing, faster-whisper, the agent
and piper, into a WAV sink. Stages, per reply path (``:buffered`` replies come
from the profile's pre-buffered responses with no LLM; ``:llm`` replies from
the embedded local model, with the buffer and tools off):

- ``end_of_turn_delay``: end of speech -> end of turn decided (the silence wait);
- ``transcription_delay``: end of speech -> transcript ready;
- ``llm_ttft``: request -> first token (``:llm`` only);
- ``tts_ttfb``: first sentence ready -> its audio ready;
- ``e2e_latency``: end of speech -> first agent audio, the sum of
  ``end_of_turn_delay``, ``e2e_stt``, ``e2e_llm`` and ``e2e_tts``.

All from the acoustic end of speech; ``first_turn_e2e`` and the false-cut
figures: :mod:`._turn_taking`.

Barge-in (:mod:`._interruptions`), in a full-duplex room on one clock:
``cut_latency`` (the user's voice onset -> the agent's voice stopped, for real
interruptions), ``hold_latency`` (the same for "yeah" and a cough, which must
then resume), and the false and missed interruption rates in the figures.

Targets (measured, not asserted): e2e_latency p50 under 600 ms for buffered
replies and under 1.2 s with the embedded LLM. Figures add the word error rate
of a TTS -> STT round trip over a set of sentences (jiwer), and ``stt_recall``:
word recall on five espeak-ng voices va never heard, through the voice loop and
the STT alone, with the stage ``stt_time`` (the STT's time per clip; see
:mod:`._recall`, and ``va bench recall`` for the full set).

With ``--device`` both paths run again through real sound devices (a private
PulseAudio's virtual microphone and speaker, :mod:`._voice_device`): the same
stages with a ``:device`` suffix, and ``e2e_acoustic``, measured on the devices.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from voice_agent_cli.bench import BenchOptions, ScenarioRun
from voice_agent_cli.bench._interruptions import interruption_stage
from voice_agent_cli.bench._recall import measure_recall, normalise
from voice_agent_cli.bench._speech import spoken
from voice_agent_cli.bench._turn_taking import (
    acoustic_end,
    false_cut_figures,
    felt_timings,
    first_turn,
    sample_turn,
)
from voice_agent_cli.bench._turns import plain_chat_settings
from voice_agent_cli.bench._voice_device import device_stage, virtual_devices
from voice_agent_cli.compose.agent import open_agent
from voice_agent_cli.config import load_settings
from voice_agent_cli.speech.build import (
    SPOKEN_TURN_LEAD_S,
    build_engines,
    load_engines,
    spoken_turn,
    voice_options,
    warm_buffered_replies,
)
from voice_agent_cli.speech.tts import PiperTTS
from voice_agent_cli.testing import FakeLLM

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.core.agent import Agent
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.stt import SpeechToText
    from voice_agent_cli.speech.tts import TextToSpeech

#: Spoken questions the default profile answers from its pre-buffered replies.
BUFFERED_QUESTIONS = ("Hello there.", "Thank you very much.", "Who are you?", "What can you do?")

#: Spoken questions for the embedded LLM (each in a fresh conversation).
LLM_QUESTIONS = (
    "What is the capital of Italy?",
    "How many days are in a week?",
    "Which animal says moo?",
    "What do bees make?",
)

#: Sentences of the TTS -> STT round trip.
WER_SENTENCES = (
    "What is the capital of France?",
    "Please set a timer for ten minutes.",
    "Tell me a joke about computers.",
    "How far is the moon from the earth?",
    "Remind me to buy milk tomorrow morning.",
    "Can you recommend a good book to read?",
    "Turn off the lights in the kitchen.",
    "What is the weather like in Berlin this weekend?",
    "Send a message to my sister saying I will be late.",
    "How many people live in Tokyo?",
    "Play some relaxing music, please.",
    "Who wrote the novel Pride and Prejudice?",
)

MAX_OUTPUT_TOKENS = 64

#: Harvard sentences each stranger's voice says for ``stt_recall`` (``va bench recall``: more).
RECALL_SENTENCES = 4


async def run(options: BenchOptions) -> ScenarioRun:
    """Measure the voice loop on both reply paths, then the round-trip WER."""
    result = ScenarioRun(stages={"stt_time": []})
    llm_settings = plain_chat_settings(
        options.profile, {"llm.provider": "local", "llm.max_output_tokens": MAX_OUTPUT_TOKENS}
    )
    buffered_settings = _buffered_settings(options.profile)
    stt, tts = build_engines(buffered_settings.profile)
    await load_engines(stt, tts)
    # The simulated user speaks without piper's random variation, so every run
    # hears the same questions and runs can be compared.
    user = PiperTTS(deterministic=True)
    try:
        result.figures["stt"], result.figures["tts"] = stt.name, tts.name
        # The buffered path never reaches the LLM: a scripted one stands by, so
        # a buffer miss is noticed (its source would be "llm").
        async with open_agent(buffered_settings, llm=FakeLLM()) as agent:
            # As va talk does while the user is still silent.
            await warm_buffered_replies(tts, buffered_settings.profile)
            clips = [await spoken(user, text) for text in BUFFERED_QUESTIONS]
            await _voice_stage(
                "buffered", agent, clips, buffered_settings, stt, tts, options, result
            )
        async with open_agent(llm_settings) as agent:
            clips = [await spoken(user, text) for text in LLM_QUESTIONS]
            await _voice_stage("llm", agent, clips, llm_settings, stt, tts, options, result)
            result.figures["llm"] = agent.llm.name
        # Barge-in: cut latency and false interruptions, in a full-duplex room.
        result.figures["interruptions"] = await interruption_stage(
            user, stt, tts, voice_options(buffered_settings.profile, echo="off"), result
        )
        # Turn-taking: questions with a pause in the middle, answered too soon?
        result.figures["false_cuts"] = await false_cut_figures(user, stt, tts, buffered_settings)
        if options.device:
            await _device_stages(buffered_settings, llm_settings, user, stt, tts, options, result)
        result.figures["round_trip"] = await round_trip_wer(stt, tts, WER_SENTENCES)
        # Voices va never heard (espeak-ng): word recall, and the STT's time per clip.
        result.figures["stt_recall"] = await measure_recall(
            llm_settings, stt, tts, sentences=RECALL_SENTENCES, stt_times=result.stages["stt_time"]
        )
    finally:
        await stt.aclose()
        await tts.aclose()
        await user.aclose()
    result.figures["end_of_turn_silence_ms"] = buffered_settings.profile.vad.end_of_turn_silence_ms
    return result


async def _device_stages(
    buffered_settings: Settings,
    llm_settings: Settings,
    user: TextToSpeech,
    stt: SpeechToText,
    tts: TextToSpeech,
    options: BenchOptions,
    result: ScenarioRun,
) -> None:
    """Both reply paths again, through a private PulseAudio's virtual devices."""
    with virtual_devices() as audio:
        async with open_agent(buffered_settings, llm=FakeLLM()) as agent:
            clips = [await spoken(user, text) for text in BUFFERED_QUESTIONS]
            await device_stage(
                "buffered", agent, clips, buffered_settings, stt, tts, options, result, audio
            )
        async with open_agent(llm_settings) as agent:
            await agent.start()
            clips = [await spoken(user, text) for text in LLM_QUESTIONS]
            await device_stage("llm", agent, clips, llm_settings, stt, tts, options, result, audio)


def _buffered_settings(profile: str | None) -> Settings:
    """The profile with its pre-buffered replies, no reply cache and no tool servers."""
    base = {"cache.enabled": False, "buffer.enabled": True}
    servers = load_settings(profile, base).profile.mcp.servers
    settings = load_settings(
        profile, {**base, **{f"mcp.servers.{name}.enabled": False for name in servers}}
    )
    if not settings.profile.buffer.responses and profile is not None:
        return _buffered_settings(None)  # measure the default profile's replies instead
    return settings


async def _voice_stage(
    path: str,
    agent: Agent,
    clips: list[Samples],
    settings: Settings,
    stt: SpeechToText,
    tts: TextToSpeech,
    options: BenchOptions,
    result: ScenarioRun,
) -> None:
    """The first turn (models loading), warm-up, then measured turns, fed in real time.

    Each turn is a fresh conversation; timings are from the acoustic end of speech.
    """
    turn = await first_turn(path, agent, clips[-1], settings, stt, tts, result)
    sources: dict[str, int] = {str(turn.source): 1}
    for index in range(options.warmup + options.iterations):
        agent.reset()
        clip = clips[index % len(clips)]
        turn = await spoken_turn(agent, clip, settings.profile, stt, tts)
        sources[str(turn.source)] = sources.get(str(turn.source), 0) + 1
        if index >= options.warmup:
            sample_turn(result, path, felt_timings(turn, acoustic_end(clip, SPOKEN_TURN_LEAD_S)))
    result.figures[f"sources:{path}"] = sources
    expected = ("prebuffered", "cache") if path == "buffered" else ("llm",)
    if any(source not in expected for source in sources):
        raise RuntimeError(f"bench voice: {path} turns were answered by {sorted(sources)}")


async def round_trip_wer(
    stt: SpeechToText, tts: TextToSpeech, sentences: tuple[str, ...]
) -> dict[str, Any]:
    """Word error rate of speaking each sentence with the TTS and hearing it with the STT."""
    import jiwer

    heard = [(await stt.transcribe(await spoken(tts, s))).text for s in sentences]
    reference = [normalise(s) for s in sentences]
    hypothesis = [normalise(h) for h in heard]
    mistakes = [(r, h) for r, h in zip(reference, hypothesis, strict=True) if r != h]
    return {
        "sentences": len(sentences),
        "wer": round(jiwer.wer(reference, hypothesis), 4),
        "mismatches": mistakes,
    }

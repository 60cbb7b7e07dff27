"""Bench scenario ``recall``: how much of a stranger's speech va hears, and how fast.

Every voice of :data:`~voice_agent_cli.bench._recall.VOICES` speaks the first
``-n`` Harvard sentences (at most 50); each clip goes through the voice loop as
``va talk --input`` runs it, and through the STT alone (:mod:`._recall`).
Figures: ``recall`` (the voice loop), ``model_recall`` (the STT alone), per
voice, and the clips split into several turns. Stage: ``stt_time``, the STT's
time per clip (``-w`` clips are transcribed first and not timed). ``va bench
voice`` reports the same figures on a few sentences per voice.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

from voice_agent_cli.bench import BenchOptions, ScenarioRun
from voice_agent_cli.bench._recall import HARVARD_SENTENCES, VOICES, espeak, measure_recall
from voice_agent_cli.bench._turns import plain_chat_settings
from voice_agent_cli.speech.build import build_engines, load_engines

if TYPE_CHECKING:
    from voice_agent_cli.speech.stt import SpeechToText


async def run(options: BenchOptions) -> ScenarioRun:
    """Recall over ``options.iterations`` sentences per voice."""
    result = ScenarioRun()
    settings = plain_chat_settings(options.profile, {})
    stt, tts = build_engines(settings.profile)
    await load_engines(stt, tts)
    try:
        await _warm(stt, options.warmup)
        times: list[float] = []
        result.figures["stt"] = stt.name
        result.figures.update(
            await measure_recall(settings, stt, tts, sentences=options.iterations, stt_times=times)
        )
        for milliseconds in times:
            result.sample("stt_time", milliseconds)
    finally:
        await stt.aclose()
        await tts.aclose()
    return result


async def _warm(stt: SpeechToText, clips: int) -> None:
    """Transcribe ``clips`` untimed clips first (CTranslate2's first calls are slower)."""
    for index in range(clips):
        clip = await asyncio.to_thread(espeak, HARVARD_SENTENCES[-1 - index], VOICES[0])
        await stt.transcribe(clip)

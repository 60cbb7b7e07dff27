"""Voice the spoken turns of the shipped evals (evals/audio/*.wav) with piper.

The files are committed; run this again only to change or add a sentence:
    .venv/bin/python scripts/make_eval_audio.py evals/audio
The voice is piper's en_US "joe", without random variation, resampled to 16 kHz mono.
"""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

from voice_agent_cli.speech.audio import PIPELINE_RATE, resample, write_wav
from voice_agent_cli.speech.tts import PiperTTS

SENTENCES = {
    "capital-of-france": "What is the capital of France?",
    "twelve-times-seven": "What is twelve times seven?",
    "time-in-tokyo": "What time is it in Tokyo?",
    "spider-legs": "How many legs does a spider have?",
    "remember-meeting-room": "Remember that the meeting is in room twelve.",
}


async def main(out: Path) -> None:
    tts = PiperTTS(deterministic=True)
    await tts.start()
    for name, text in SENTENCES.items():
        speech = await tts.synthesize(text)
        write_wav(
            out / f"{name}.wav",
            resample(speech.audio, speech.sample_rate, PIPELINE_RATE),
            PIPELINE_RATE,
        )
    await tts.aclose()


asyncio.run(main(Path(sys.argv[1])))

"""The user's side of the voice scenarios: what they say, as 16 kHz speech.

``voice``, its barge-in trials and its pause-in-the-middle questions all speak
to va the same way, so the clip maker lives here rather than in one of them
(which the others would then have to import back).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voice_agent_cli.speech.audio import PIPELINE_RATE, resample

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.tts import TextToSpeech


async def spoken(tts: TextToSpeech, text: str) -> Samples:
    """``text`` said by ``tts``, at the voice loop's rate (16 kHz)."""
    speech = await tts.synthesize(text)
    return resample(speech.audio, speech.sample_rate, PIPELINE_RATE)

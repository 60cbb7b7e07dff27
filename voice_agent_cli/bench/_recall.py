"""How well va hears voices it never heard: word recall on synthetic strangers.

va's reply voice (piper's joe) comes back through Whisper word for word, which
says little about a user. This measures the hearing on other voices::

    Harvard sentence ─► espeak-ng (a voice, a speed) ─► 16 kHz clip
        ├─► the voice loop, as `va talk --input` runs it: Silero endpointing,
        │   speculative and final STT, one turn (or more, if it split) ─► heard
        └─► the STT alone on the whole clip ─► what the model hears by itself

Recall is the share of the sentence's words that come back (jiwer's hits over
the reference words, after :func:`normalise`), pooled per voice and over all.
The gap between ``voice_loop`` and ``model`` is what the loop loses (a clipped
first word, a sentence cut in two); ``split`` counts clips heard as more than
one turn. ``stt_time`` is the STT's own time per whole clip.

The audio is made at bench time, never downloaded: espeak-ng is a system
package (``scripts/install-system-deps.sh``). No other piper voice than the
reply voice is on PyPI, so the strangers are espeak-ng's.
"""

from __future__ import annotations

import asyncio
import io
import re
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_agent_cli.compose.agent import open_agent
from voice_agent_cli.errors import DependencyUnavailable
from voice_agent_cli.speech.audio import PIPELINE_RATE, resample, to_mono
from voice_agent_cli.speech.build import spoken_turns
from voice_agent_cli.testing import FakeLLM

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.core.agent import Agent
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.stt import SpeechToText
    from voice_agent_cli.speech.tts import TextToSpeech

#: The first five Harvard lists (IEEE 1969): phonetically balanced, no context to lean on.
HARVARD_SENTENCES = (
    "The birch canoe slid on the smooth planks.",
    "Glue the sheet to the dark blue background.",
    "It's easy to tell the depth of a well.",
    "These days a chicken leg is a rare dish.",
    "Rice is often served in round bowls.",
    "The juice of lemons makes fine punch.",
    "The box was thrown beside the parked truck.",
    "The hogs were fed chopped corn and garbage.",
    "Four hours of steady work faced us.",
    "Large size in stockings is hard to sell.",
    "The boy was there when the sun rose.",
    "A rod is used to catch pink salmon.",
    "The source of the huge river is the clear spring.",
    "Kick the ball straight and follow through.",
    "Help the woman get back to her feet.",
    "A pot of tea helps to pass the evening.",
    "Smoky fires lack flame and heat.",
    "The soft cushion broke the man's fall.",
    "The salt breeze came across from the sea.",
    "The girl at the booth sold fifty bonds.",
    "The small pup gnawed a hole in the sock.",
    "The fish twisted and turned on the bent hook.",
    "Press the pants and sew a button on the vest.",
    "The swan dive was far short of perfect.",
    "The beauty of the view stunned the young boy.",
    "Two blue fish swam in the tank.",
    "Her purse was full of useless trash.",
    "The colt reared and threw the tall rider.",
    "It snowed, rained, and hailed the same morning.",
    "Read verse out loud for pleasure.",
    "Hoist the load to your left shoulder.",
    "Take the winding path to reach the lake.",
    "Note closely the size of the gas tank.",
    "Wipe the grease off his dirty face.",
    "Mend the coat before you go out.",
    "The wrist was badly strained and hung limp.",
    "The stray cat gave birth to kittens.",
    "The young girl gave no clear response.",
    "The meal was cooked before the bell rang.",
    "What joy there is in living.",
    "A king ruled the state in the early days.",
    "The ship was torn apart on the sharp reef.",
    "Sickness kept him home the third week.",
    "The wide road shimmered in the hot sun.",
    "The lazy cow lay in the cool grass.",
    "Lift the square stone over the fence.",
    "The rope will bind the seven books at once.",
    "Hop over the fence and plunge in.",
    "The friendly gang left the drug store.",
    "Mesh wire keeps chicks inside.",
)


@dataclass(frozen=True)
class Voice:
    """An espeak-ng voice at one speed and pitch."""

    name: str
    arguments: tuple[str, ...]


#: Five strangers: plain and fast American, female, British, and a deep voice.
VOICES = (
    Voice("us-120wpm", ("-v", "en-us", "-s", "120")),
    Voice("us-175wpm", ("-v", "en-us", "-s", "175")),
    Voice("us-female", ("-v", "en-us+f3", "-s", "140")),
    Voice("british", ("-v", "en-gb", "-s", "140")),
    Voice("us-deep", ("-v", "en-us", "-p", "20", "-s", "140")),
)


def espeak(text: str, voice: Voice) -> Samples:
    """``text`` spoken by ``voice``, 16 kHz mono. Blocking (a subprocess)."""
    import soundfile

    if shutil.which("espeak-ng") is None:
        raise DependencyUnavailable(
            "espeak-ng is not installed (scripts/install-system-deps.sh installs it)"
        )
    done = subprocess.run(
        ["espeak-ng", *voice.arguments, "--stdout", text], capture_output=True, check=False
    )
    if done.returncode != 0:
        reason = done.stderr.decode(errors="replace").strip()
        raise DependencyUnavailable(f"espeak-ng failed for voice {voice.name}: {reason}")
    audio, rate = soundfile.read(io.BytesIO(done.stdout), dtype="float32")
    return resample(to_mono(np.asarray(audio, dtype=np.float32)), rate, PIPELINE_RATE)


#: Numbers Whisper writes as digits, as the words the sentences spell them with.
_NUMBER_WORDS = (
    *("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine"),
    *("ten", "eleven", "twelve", "thirteen", "fourteen", "fifteen", "sixteen"),
    *("seventeen", "eighteen", "nineteen", "twenty"),
)
_TENS = ("thirty", "forty", "fifty", "sixty", "seventy", "eighty", "ninety")
_NUMBERS = {
    **{str(n): word for n, word in enumerate(_NUMBER_WORDS)},
    **{f"{n}0": word for n, word in enumerate(_TENS, 3)},
    **{"1st": "first", "2nd": "second", "3rd": "third"},
}


def normalise(text: str) -> str:
    """Lower case, no punctuation, numbers as words (Whisper writes "10" for "ten")."""
    words = re.sub(r"[^a-z0-9' ]+", " ", text.lower()).split()
    return " ".join(_NUMBERS.get(word, word) for word in words)


@dataclass
class Tally:
    """Words of the references, and how many of them came back."""

    words: int = 0
    hits: int = 0
    clips: int = 0
    misheard: list[tuple[str, str]] = field(default_factory=list)

    def add(self, reference: str, heard: str) -> None:
        """Score one clip."""
        import jiwer

        said, got = normalise(reference), normalise(heard)
        scored = jiwer.process_words(said, got or "-")
        self.words += len(said.split())
        self.hits += scored.hits
        self.clips += 1
        if said != got:
            self.misheard.append((said, got))

    @property
    def recall(self) -> float:
        """Share of the reference words heard (0 when nothing was scored)."""
        return round(self.hits / self.words, 4) if self.words else 0.0


def recall_of(references: Sequence[str], heard: Sequence[str]) -> float:
    """Word recall of ``heard`` against ``references`` (pooled over the pairs)."""
    tally = Tally()
    for reference, text in zip(references, heard, strict=True):
        tally.add(reference, text)
    return tally.recall


async def heard_by_voice_loop(
    agent: Agent, clip: Samples, settings: Settings, stt: SpeechToText, tts: TextToSpeech
) -> list[str]:
    """What each turn the voice loop made of ``clip`` heard, as ``va talk --input`` runs it.

    The conversation goes on from clip to clip, so Whisper hears each one with
    the agent's last words as its prompt, as it would in a real dialogue.
    """
    turns = await spoken_turns(agent, clip, settings.profile, stt, tts, pace=False)
    return [turn.user for turn in turns]


async def measure_recall(
    settings: Settings,
    stt: SpeechToText,
    tts: TextToSpeech,
    *,
    sentences: int,
    stt_times: list[float],
    voices: Sequence[Voice] = VOICES,
) -> dict[str, Any]:
    """Recall of the voice loop and of the STT alone, per voice and overall.

    The first ``sentences`` Harvard sentences are spoken by every voice; the
    STT's time per whole clip is appended to ``stt_times`` (ms). The agent
    answers every turn "Okay." from a scripted LLM: only the hearing is measured.
    ``settings`` should have the response buffer off (it would answer, not the script).
    """
    texts = HARVARD_SENTENCES[: max(1, min(sentences, len(HARVARD_SENTENCES)))]
    loop_total, model_total, per_voice = Tally(), Tally(), {}
    split = 0
    async with open_agent(settings, llm=FakeLLM(responder=lambda _: "Okay.")) as agent:
        for voice in voices:
            loop, model = Tally(), Tally()
            for text in texts:
                clip = await asyncio.to_thread(espeak, text, voice)
                turns = await heard_by_voice_loop(agent, clip, settings, stt, tts)
                split += len(turns) > 1
                alone = await stt.transcribe(clip)
                stt_times.append(alone.duration_ms)
                for tally in (loop, loop_total):
                    tally.add(text, " ".join(turns))
                for tally in (model, model_total):
                    tally.add(text, alone.text)
            per_voice[voice.name] = {"voice_loop": loop.recall, "model": model.recall}
    return {
        "recall": loop_total.recall,
        "model_recall": model_total.recall,
        "per_voice": per_voice,
        "clips": loop_total.clips,
        "words": loop_total.words,
        "split": split,
        "misheard": loop_total.misheard[:10],
    }

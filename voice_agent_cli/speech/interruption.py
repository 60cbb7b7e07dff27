"""Barge-in that an "uh-huh" does not trigger: hold the reply at the first sound, then judge.

::

    user sound over the reply ─► sink.pause() (the agent stops within a VAD chunk or two)
        │
        ├─ speech lasts min_duration_ms ................................► cut
        ├─ a gap in the speech ─► STT ─► words beyond the backchannel ──► cut
        │                               └─ "yeah", "mm-hm", no words ───► resume
        ├─ the endpointer drops it (a click, a cough) ..................► resume
        └─ no verdict within resume_timeout_ms .........................► resume

*cut* is the voice loop's barge-in (the sink cleared, the turn cancelled, the
history keeps what was heard, the speech becomes the next turn). *resume*
plays the reply on from the sample where it stopped (the sink held it, so
nothing is lost or repeated), and the sound that paused it is no user turn:
the agent heard "uh-huh", not a question. If the user goes on talking after
a resume, long enough speech still cuts.

This is LiveKit Agents' ``resume_false_interruption`` with
``min_interruption_duration`` and ``min_interruption_words``, judged on words
rather than on a timer alone, so a backchannel resumes in well under a second.
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from voice_agent_cli.errors import VAError
from voice_agent_cli.speech.events import FalseInterruption, VoiceEvent

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.io import AudioSink
    from voice_agent_cli.speech.stt import SpeechToText

#: What listeners say to show they are listening (LiveKit's examples use much the same).
BACKCHANNEL_WORDS: tuple[str, ...] = (
    "yeah", "yes", "yep", "yup", "ok", "okay", "right", "sure", "alright", "all right",
    "uh-huh", "uh huh", "mm-hm", "mm-hmm", "mhm", "mm", "hmm", "hm", "uh", "um", "ah",
    "oh", "i see", "got it", "cool", "nice", "wow", "true", "exactly",
)  # fmt: skip

#: Sounds rather than words, however Whisper spells them: uh, uhh, oh, ow, aw, ah,
#: ha, huh, mm, mmm, hm, hmmm, mhm, um.
INTERJECTION = re.compile(r"(?:u+h+|o+h+|o+w+|a+w+|a+h+|h+a+h*|h+u+h+|m+|h+m+|m+h+m+|u+m+)")


@dataclass(frozen=True)
class InterruptionOptions:
    """When user sound over the reply is a real interruption."""

    #: False: any speech cuts the reply at once (the behaviour before false interruptions).
    resume_false_interruption: bool = True
    #: Speech at least this long is a real interruption, whatever the words.
    min_duration_ms: int = 500
    #: Shorter speech cuts only with at least this many words outside the backchannel.
    min_words: int = 1
    backchannel: tuple[str, ...] = BACKCHANNEL_WORDS
    #: The longest the reply stays held without a verdict (a slow STT): then it resumes.
    resume_timeout_ms: int = 2000

    def words_beyond_backchannel(self, text: str) -> list[str]:
        """The words of ``text`` that are not backchannel ("yeah, wait" → ["wait"]).

        Wordless sounds count as backchannel whatever their spelling: Whisper
        writes a short "uh-huh" as "Oh.", "Ow." or "Hmmm" depending on where
        the clip starts, and none of them asks the agent to stop.
        """
        spoken = " ".join(re.sub(r"[^a-z0-9'\- ]+", " ", text.lower()).split())
        phrases = sorted(self.backchannel, key=len, reverse=True)  # "uh huh" before "uh"
        pattern = r"\b(?:" + "|".join(re.escape(p) for p in phrases) + r")\b"
        words = re.sub(pattern, " ", spoken).replace("-", " ").split()
        return [word for word in words if not INTERJECTION.fullmatch(word)]

    def is_interruption(self, text: str) -> bool:
        """True when a short utterance's words make it a real interruption."""
        return len(self.words_beyond_backchannel(text)) >= max(1, self.min_words)


#: idle: no user sound over the reply; judging: the reply is held, no verdict yet;
#: dismissed: a false interruption, the reply plays on; cut: a real barge-in.
JudgeState = Literal["idle", "judging", "dismissed", "cut"]


class InterruptionJudge:
    """Holds the reply at the user's first sound over it and decides: cut or resume.

    The voice loop tells it what the endpointer sees (:meth:`onset`,
    :meth:`watch` on every frame, :meth:`speech_paused`, :meth:`speech_resumed`,
    :meth:`discarded`, :meth:`ended`); ``cut`` is the loop's barge-in.
    """

    def __init__(
        self,
        options: InterruptionOptions,
        stt: SpeechToText,
        sink: AudioSink,
        *,
        cut: Callable[[], Awaitable[object]],
        emit: Callable[[VoiceEvent], None],
    ) -> None:
        self.options = options
        self.stt = stt
        self.sink = sink
        self._cut = cut
        self._emit = emit
        self.state: JudgeState = "idle"
        self._held_since = 0.0
        self._verdict: asyncio.Task[None] | None = None
        #: Sounds over the reply that resumed it, since the session started.
        self.false_interruptions = 0

    @property
    def holding(self) -> bool:
        """True while the reply is paused for a verdict."""
        return self.state == "judging"

    def onset(self) -> None:
        """The user started to speak over the reply: hold it at once."""
        self.sink.pause()
        self.state = "judging"
        self._held_since = time.perf_counter()

    async def watch(self, speech_seconds: float) -> None:
        """Each frame: long speech cuts; a verdict that takes too long resumes."""
        if self.state in ("judging", "dismissed"):
            if speech_seconds * 1000 >= self.options.min_duration_ms:
                await self._interrupt()
            elif self.holding and self._held_for() * 1000 >= self.options.resume_timeout_ms:
                self._cancel_verdict()
                self._resume("")

    def speech_paused(self, audio: Samples) -> None:
        """A gap in the user's speech: transcribe what was said and judge it."""
        if self.holding:
            self._cancel_verdict()
            self._verdict = asyncio.create_task(self._judge(audio), name="voice-interruption")

    def speech_resumed(self) -> None:
        """The user spoke again: more words are coming (or another "uh-huh")."""
        if self.holding:
            self._cancel_verdict()
        elif self.state == "dismissed":
            self.onset()

    def discarded(self) -> None:
        """Too little speech to be a turn (a click, a cough): play on."""
        if self.holding:
            self._cancel_verdict()
            self._resume("")
        self.state = "idle"

    async def ended(self, audio: Samples) -> bool:
        """The user's utterance ended; True when it is a turn (not a backchannel)."""
        if self.holding:
            verdict = self._verdict
            if verdict is not None and not verdict.done():
                await asyncio.gather(verdict, return_exceptions=True)
            if self.holding:  # no verdict from a gap: judge the whole utterance now
                await self._judge(audio)
            if self.holding:  # the STT failed: no words heard, no interruption
                self._resume("")
        is_turn = self.state != "dismissed"
        self.state = "idle"
        return is_turn

    async def aclose(self) -> None:
        """Cancel a verdict in flight."""
        verdict, self._verdict = self._verdict, None
        if verdict is not None and not verdict.done():
            verdict.cancel()
            await asyncio.gather(verdict, return_exceptions=True)

    async def _judge(self, audio: Samples) -> None:
        try:
            text = (await self.stt.transcribe(audio)).text.strip()
        except VAError:
            return  # unheard: the timer, more speech or the end of the utterance decides
        if not self.holding:
            return
        if self.options.is_interruption(text):
            await self._interrupt()
        else:
            self._resume(text)

    async def _interrupt(self) -> None:
        self.state = "cut"
        await self._cut()

    def _resume(self, text: str) -> None:
        held = self._held_for()
        self.sink.resume()
        self.state = "dismissed"
        self.false_interruptions += 1
        self._emit(FalseInterruption(text, round(held, 3)))

    def _held_for(self) -> float:
        return time.perf_counter() - self._held_since

    def _cancel_verdict(self) -> None:
        verdict, self._verdict = self._verdict, None
        if verdict is not None and not verdict.done() and verdict is not asyncio.current_task():
            verdict.cancel()

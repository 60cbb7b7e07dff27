"""Speaking one reply: streamed text in, sentence audio out, in order, cut-off on barge-in.

:class:`ReplySpeaker` splits the reply's text deltas into sentences and runs
one task that synthesises each sentence and queues its audio on the sink, so
sentence 2 is synthesised while sentence 1 plays and the first audio starts
as soon as the first sentence is complete. It remembers where in the reply's
audio each sentence starts, which tells after a barge-in what the user heard.

A speculative reply (started while the user may still go on) is *held*: its
first sentence is synthesised, but nothing reaches the sink until
:meth:`ReplySpeaker.release` says the user's turn is over.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass

from voice_agent_cli.speech.events import AgentSpeech, VoiceEvent
from voice_agent_cli.speech.io import AudioSink
from voice_agent_cli.speech.sentences import SentenceSplitter
from voice_agent_cli.speech.tts import TextToSpeech


@dataclass(frozen=True)
class _Line:
    text: str
    filler: bool
    queued_at: float


class ReplySpeaker:
    """Speaks one reply; ``async with`` owns its synthesis task."""

    def __init__(
        self,
        tts: TextToSpeech,
        sink: AudioSink,
        emit: Callable[[VoiceEvent], None],
        *,
        on_first_audio: Callable[[], None] | None = None,
        held: bool = False,
        splitter: SentenceSplitter | None = None,
    ) -> None:
        self.tts = tts
        self.sink = sink
        self.emit = emit
        self.on_first_audio = on_first_audio
        self.splitter = splitter or SentenceSplitter()
        self._released = asyncio.Event()
        if not held:
            self._released.set()
        self._queue: asyncio.Queue[_Line | None] = asyncio.Queue()
        self._task: asyncio.Task[None] | None = None
        #: perf_counter when the first audio was handed to the sink.
        self.first_audio_at: float | None = None
        #: From the first sentence handed to TTS to its audio (ms).
        self.tts_ttfb: float | None = None
        #: perf_counter when the first sentence was complete (handed to TTS).
        self.first_text_at: float | None = None
        #: Reply sentences with the offset (s) of their audio in the reply.
        self.spoken: list[tuple[str, float]] = []
        self.written_seconds = 0.0
        self.dropped_seconds = 0.0
        self.interrupted = False

    async def __aenter__(self) -> ReplySpeaker:
        self._task = asyncio.create_task(self._speak(), name="voice-reply-speaker")
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Stop synthesising (audio already queued on the sink is the sink's business)."""
        task, self._task = self._task, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def add_text(self, delta: str) -> None:
        """A piece of the reply as it streams in."""
        for sentence in self.splitter.push(delta):
            self._say(sentence, filler=False)

    def add_filler(self, text: str) -> None:
        """A phrase said while the agent works (not part of the reply)."""
        self._say(text, filler=True)

    def finish(self) -> None:
        """The reply text is complete: speak the rest."""
        for sentence in self.splitter.flush():
            self._say(sentence, filler=False)
        self._queue.put_nowait(None)

    def release(self) -> None:
        """The user's turn is over: a held reply may be heard now."""
        self._released.set()

    def _say(self, text: str, *, filler: bool) -> None:
        now = time.perf_counter()
        if self.first_text_at is None:
            self.first_text_at = now
        self._queue.put_nowait(_Line(text, filler, now))

    async def spoken_all(self) -> None:
        """Wait until every sentence has been synthesised and queued on the sink."""
        if self._task is not None:
            await asyncio.shield(self._task)

    def interrupt(self) -> None:
        """Barge-in: silence the sink now."""
        self.interrupted = True
        self.dropped_seconds += self.sink.clear()

    def heard_text(self) -> str:
        """The reply sentences whose audio had started playing."""
        played = self.written_seconds - self.dropped_seconds
        return " ".join(text for text, start in self.spoken if start < played - 1e-3).strip()

    async def _speak(self) -> None:
        while True:
            line = await self._queue.get()
            if line is None:
                return
            speech = await self.tts.synthesize(line.text)
            if self.tts_ttfb is None:
                self.tts_ttfb = (time.perf_counter() - line.queued_at) * 1000
            await self._released.wait()
            if self.interrupted:
                return
            if self.first_audio_at is None:
                self.first_audio_at = time.perf_counter()
                if self.on_first_audio is not None:
                    self.on_first_audio()
            if not line.filler:
                self.spoken.append((line.text, self.written_seconds))
            self.written_seconds += speech.seconds
            self.emit(AgentSpeech(line.text, filler=line.filler))
            await self.sink.write(speech.audio, speech.sample_rate)

"""The voice loop: frames in, turns through the agent, speech out, with barge-in.

::

    source ─► echo canceller ─► endpointer (Silero VAD) ─► STT ─► agent.run_turn
                                       │                              │ text deltas
        user speech over the reply ─► InterruptionJudge              ▼
             hold the sink; cut the turn, or resume ──────► sentences ─► TTS ─► sink

One reader loop consumes the source and runs the endpointer; each user turn is
a task (``voice-turn-N``) that transcribes, runs the agent turn and speaks the
reply. While the user pauses, the audio so far is transcribed speculatively,
so the transcript is usually ready when the silence has lasted long enough to
end the turn.

Barge-in: speech over the agent's reply pauses the sink at once and the
:class:`~voice_agent_cli.speech.interruption.InterruptionJudge` decides. An
"uh-huh", a cough or a click resumes the reply where it stopped and is no
turn. Real speech clears the sink and cancels the turn task, which closes the
agent's turn generator (the core records the partial reply as interrupted);
the history then keeps only what the user heard.
Speech while the agent is still thinking means the user had not finished:
that turn is dropped and its audio joins the next utterance. A transcript
that trails off ("... and") waits a little longer for that to happen.

A polite source (files: each one a turn after the previous reply) is not read
while the agent answers, so its turns never overlap.

No cold first turn: the session may start listening while the models still
load (``ready``, a task that loads them and returns the seconds it took). The
user speaks meanwhile; a turn that ends before they are ready waits for them
(``load_wait``), and the first turn reports the load on its own (``load_s``).
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import time
from collections.abc import AsyncGenerator, Callable
from contextlib import aclosing
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal, Protocol

from voice_agent_cli.contracts.events import (
    FillerSpeech,
    Notice,
    TextDelta,
    ToolCallStarted,
    TurnCompleted,
)
from voice_agent_cli.errors import VAError
from voice_agent_cli.speech.endpointing import (
    Endpointer,
    EndpointEvent,
    EndpointingOptions,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    Utterance,
    UtteranceDiscarded,
    UtteranceEnded,
)
from voice_agent_cli.speech.events import (
    AgentText,
    BargeIn,
    StateChanged,
    UserSpeaking,
    UserTranscript,
    VoiceEvent,
    VoiceNotice,
    VoiceState,
    VoiceTurn,
)
from voice_agent_cli.speech.interruption import InterruptionJudge, InterruptionOptions
from voice_agent_cli.speech.speaker import ReplySpeaker
from voice_agent_cli.speech.stt import in_conversation

if TYPE_CHECKING:
    from voice_agent_cli.contracts.events import TurnEvent
    from voice_agent_cli.contracts.messages import ChatMessage
    from voice_agent_cli.core.conversation import Conversation
    from voice_agent_cli.speech.audio import AudioFrame, Samples
    from voice_agent_cli.speech.echo import EchoCanceller
    from voice_agent_cli.speech.io import AudioSink, AudioSource
    from voice_agent_cli.speech.stt import SpeechToText, Transcript
    from voice_agent_cli.speech.tts import TextToSpeech

EchoMode = Literal["aec", "half-duplex", "off"]


class TurnRunner(Protocol):
    """What the voice loop needs of the agent (:class:`~voice_agent_cli.core.agent.Agent`)."""

    conversation: Conversation

    def run_turn(self, text: str) -> AsyncGenerator[TurnEvent, None]:
        """Answer one user turn, yielding events; closing it interrupts the turn."""
        ...


@dataclass(frozen=True)
class VoiceOptions:
    """How the voice loop takes turns."""

    endpointing: EndpointingOptions = field(default_factory=EndpointingOptions)
    #: aec: cancel the agent's voice from the mic; half-duplex: ignore the mic while
    #: the agent speaks (no barge-in then); off: headphones, files, rooms.
    echo: EchoMode = "off"
    barge_in: bool = True
    #: Which speech over the reply is a real interruption (an "uh-huh" is not).
    interruption: InterruptionOptions = field(default_factory=InterruptionOptions)
    #: Speech probability that starts a barge-in while the agent talks through the
    #: echo canceller (which muffles the first word of double talk).
    barge_in_threshold: float = 0.35
    #: Half-duplex: keep ignoring the mic this long after playback (room echo).
    half_duplex_tail_ms: int = 300
    speculative_stt: bool = True
    #: Silence that ends a turn whose words so far sound unfinished ("... and").
    unfinished_silence_ms: int = 900
    #: Stop at a failed turn (files) or show the error and go on listening (a
    #: microphone). ``None``: stop for a polite source.
    stop_on_error: bool | None = None


@dataclass
class _Speculation:
    task: asyncio.Task[Transcript]
    finished_at: float | None = None


#: Words after which a sentence is rarely over: wait longer before answering.
_UNFINISHED = re.compile(
    r"(\b(and|or|but|so|because|the|a|an|to|of|with|for|in|on|at|my|your|is|um|uh|like)|,)\s*$",
    re.IGNORECASE,
)


def sounds_unfinished(text: str) -> bool:
    """True when ``text`` stops where a speaker rarely stops (a conjunction, a comma).

    Whisper often closes a cut-off phrase with "..." or a full stop: those are
    not taken as the end of a sentence.
    """
    words = text.strip().rstrip(".… ")
    return bool(words) and (text.strip().endswith(("...", "…")) or bool(_UNFINISHED.search(words)))


class VoiceSession:
    """Runs the voice loop over one source and one sink until the source ends."""

    def __init__(
        self,
        agent: TurnRunner,
        source: AudioSource,
        sink: AudioSink,
        *,
        stt: SpeechToText,
        tts: TextToSpeech,
        options: VoiceOptions | None = None,
        observer: Callable[[VoiceEvent], None] | None = None,
        endpointer: Endpointer | None = None,
        echo: EchoCanceller | None = None,
        ready: asyncio.Task[float] | None = None,
    ) -> None:
        self.agent = agent
        self.source = source
        self.sink = sink
        # Whisper hears each utterance knowing the agent's last words (speech/stt.py).
        self.stt = in_conversation(stt, agent)
        self.tts = tts
        self.options = options or VoiceOptions()
        self.observer = observer
        self.endpointer = endpointer or Endpointer(self.options.endpointing)
        self.echo = echo
        if self.echo is None and self.options.echo == "aec":
            from voice_agent_cli.speech.echo import EchoCanceller

            # The canceller needs the speaker-to-mic delay: both devices' buffering.
            latency = sink.output_latency + float(getattr(source, "latency", 0.0))
            self.echo = EchoCanceller(delay_ms=round(latency * 1000) + 10 if latency else 40)
        if self.echo is not None:
            sink.add_listener(self.echo.reference)
        stop = self.options.stop_on_error
        #: A polite source is not read while the agent answers (see AudioSource).
        self.polite = bool(getattr(source, "polite", not source.realtime))
        self.stop_on_error = self.polite if stop is None else stop
        self.state: VoiceState = "listening"
        self.turns: list[VoiceTurn] = []
        self._turn_task: asyncio.Task[None] | None = None
        self._speaker: ReplySpeaker | None = None
        self._speculation: _Speculation | None = None
        self._tasks: set[asyncio.Task[Transcript]] = set()
        self._carry_over: list[Utterance] = []
        self._audible_until = 0.0
        self._history_before: tuple[ChatMessage, ...] = ()
        self._failure: BaseException | None = None
        self._false_before = 0
        self._ready = ready
        self.judge = InterruptionJudge(
            self.options.interruption, stt, sink, cut=self.interrupt, emit=self._emit
        )

    async def __aenter__(self) -> VoiceSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the reader loop ---------------------------------------------------------

    async def run(self) -> list[VoiceTurn]:
        """Listen and answer until the source ends; returns the turns taken."""
        try:
            async with aclosing(self.source.frames()) as frames:
                async for frame in frames:
                    await self._on_frame(frame)
                    self._raise_failure()
            for event in self.endpointer.flush():
                await self._on_endpoint(event)
            await self._wait_for_turn()
            self._raise_failure()
        finally:
            await self.aclose()
        return self.turns

    async def aclose(self) -> None:
        """Cancel the turn in flight and any speculative transcription."""
        await self.judge.aclose()
        tasks = [t for t in (self._turn_task, *self._tasks) if t is not None and not t.done()]
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        self._tasks.clear()
        self._turn_task = None

    async def _on_frame(self, frame: AudioFrame) -> None:
        if self.echo is not None:
            frame = self.echo.process(frame)
            talking = self.sink.is_playing
            self.endpointer.start_threshold = (
                min(self.options.barge_in_threshold, self.endpointer.options.threshold)
                if talking
                else self.endpointer.options.threshold
            )
        if self.options.echo == "half-duplex" and self._agent_audible():
            # Without echo cancellation the mic hears the agent: do not listen now.
            if self.endpointer.in_speech:
                self.endpointer.reset()
            return
        for event in self.endpointer.push(frame):
            await self._on_endpoint(event)
        await self.judge.watch(self.endpointer.speech_seconds)

    def _agent_audible(self) -> bool:
        now = time.perf_counter()
        if self.sink.is_playing:
            self._audible_until = now + self.options.half_duplex_tail_ms / 1000
        return now < self._audible_until

    async def _on_endpoint(self, event: EndpointEvent) -> None:
        if isinstance(event, SpeechStarted):
            self._emit(UserSpeaking(event.at))
            if self._turn_active() and self._may_barge_in():
                if self._agent_has_spoken() and self.options.interruption.resume_false_interruption:
                    self.judge.onset()  # hold the reply; cut or resume when the words are in
                else:
                    await self._barge_in()
        elif isinstance(event, SpeechPaused):
            self._drop_speculation()
            self.judge.speech_paused(event.audio)
            if self.options.speculative_stt and not self._turn_active() and self._is_ready():
                self._speculate(self._with_carry_over(event.audio))
        elif isinstance(event, SpeechResumed):
            self._drop_speculation()
            self.judge.speech_resumed()
        elif isinstance(event, UtteranceDiscarded):
            self._drop_speculation()
            self.judge.discarded()
        elif isinstance(event, UtteranceEnded):
            if await self.judge.ended(event.utterance.audio):
                await self._on_utterance(event.utterance)
            else:
                self._drop_speculation()  # a backchannel: no turn

    async def _on_utterance(self, utterance: Utterance) -> None:
        speculation, self._speculation = self._speculation, None
        if self._turn_active():
            # Barge-in is off (or half-duplex while speaking): the agent has the floor.
            if speculation is not None:
                speculation.task.cancel()
            return
        if self._carry_over:
            utterance = self._merge(utterance)
        number = len(self.turns) + 1
        self._turn_task = asyncio.create_task(
            self._turn(utterance, speculation), name=f"voice-turn-{number}"
        )
        self._turn_task.add_done_callback(self._turn_done)
        if self.polite:
            await self._wait_for_turn()

    def _turn_active(self) -> bool:
        return self._turn_task is not None and not self._turn_task.done()

    def _agent_has_spoken(self) -> bool:
        """True once the reply's audio has started (before that, the user had not finished)."""
        return self._speaker is not None and self._speaker.first_audio_at is not None

    def _may_barge_in(self) -> bool:
        if not self.options.barge_in:
            return False
        # Half-duplex cannot hear the user over the agent, but can while it thinks.
        return self.options.echo != "half-duplex" or not self._agent_audible()

    async def _wait_for_turn(self) -> None:
        task = self._turn_task
        if task is not None:
            await asyncio.wait([task])

    def _turn_done(self, task: asyncio.Task[None]) -> None:
        # A turn's failure surfaces in the reader loop (no exception is lost).
        if not task.cancelled() and task.exception() is not None:
            self._failure = task.exception()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    # -- speculation and carry-over ------------------------------------------------

    def _speculate(self, audio: Samples) -> None:
        task = asyncio.create_task(self.stt.transcribe(audio), name="voice-stt-speculative")
        speculation = _Speculation(task)
        self._speculation = speculation
        self._tasks.add(task)

        def done(finished: asyncio.Task[Transcript]) -> None:
            self._tasks.discard(finished)
            speculation.finished_at = time.perf_counter()

        task.add_done_callback(done)

    def _drop_speculation(self) -> None:
        speculation, self._speculation = self._speculation, None
        if speculation is not None and not speculation.task.done():
            speculation.task.cancel()

    def _with_carry_over(self, audio: Samples) -> Samples:
        if not self._carry_over:
            return audio
        import numpy as np

        return np.concatenate([*(u.audio for u in self._carry_over), audio])

    def _merge(self, utterance: Utterance) -> Utterance:
        merged = Utterance(
            self._with_carry_over(utterance.audio),
            self._carry_over[0].start,
            utterance.speech_end,
            utterance.decided_at,
        )
        self._carry_over.clear()
        return merged

    # -- one turn --------------------------------------------------------------------

    async def _turn(self, utterance: Utterance, speculation: _Speculation | None) -> None:
        decided = time.perf_counter()
        speech_end = decided - utterance.end_of_turn_delay_ms / 1000
        timings: dict[str, float] = {"end_of_turn_delay": round(utterance.end_of_turn_delay_ms, 1)}
        self._set_state("thinking")
        # What the history held before this turn: a barge-in edits only what came after.
        self._history_before = self.agent.conversation.messages
        self._false_before = self.judge.false_interruptions
        user_text = ""
        try:
            waited = await self._until_ready()
            if waited:
                timings["load_wait"] = waited
            transcript, ready = await self._transcript(utterance, speculation)
            timings["transcription_delay"] = round(max(0.0, ready - speech_end) * 1000, 1)
            user_text = transcript.text.strip()
            if not any(ch.isalnum() for ch in user_text):
                return  # noise the VAD let through: no words, no turn
            if not self.polite and sounds_unfinished(user_text):
                # Smarter end of turn: words that trail off ("... and") buy the user
                # more time. Speech meanwhile cancels this turn and joins it (carry-over).
                waited = time.perf_counter() - speech_end
                await asyncio.sleep(max(0.0, self.options.unfinished_silence_ms / 1000 - waited))
            self._emit(UserTranscript(user_text))
            await self._answer(utterance, user_text, speech_end, timings)
        except asyncio.CancelledError:
            self._after_barge_in(utterance, user_text, speech_end, timings)
            raise
        except VAError as exc:
            if self.stop_on_error:
                raise
            self._emit(VoiceNotice(str(exc), "error"))
        finally:
            self._speaker = None
            self._set_state("listening")

    def _is_ready(self) -> bool:
        return self._ready is None or self._ready.done()

    async def _until_ready(self) -> float:
        """Wait for the models if they are still loading; returns the ms waited."""
        if self._ready is None:
            return 0.0
        if self._ready.done():
            self._ready.result()  # a failed load fails the turn (and says why)
            return 0.0
        began = time.perf_counter()
        await asyncio.shield(self._ready)  # a barge-in cancels the turn, not the load
        return round((time.perf_counter() - began) * 1000, 1)

    def _load_details(self) -> dict[str, float]:
        """``{"load_s": s}`` on the first turn: model loading, reported on its own."""
        ready = self._ready
        if self.turns or ready is None or not ready.done() or ready.cancelled():
            return {}
        return {} if ready.exception() else {"load_s": round(ready.result(), 3)}

    async def _transcript(
        self, utterance: Utterance, speculation: _Speculation | None
    ) -> tuple[Transcript, float]:
        """The transcript, and when it was ready (the speculative one is often early)."""
        if speculation is not None and not speculation.task.cancelled():
            try:
                transcript = await asyncio.shield(speculation.task)
                return transcript, speculation.finished_at or time.perf_counter()
            except VAError:
                pass  # try again on the whole utterance
        transcript = await self.stt.transcribe(utterance.audio)
        return transcript, time.perf_counter()

    async def _answer(
        self, utterance: Utterance, text: str, speech_end: float, timings: dict[str, float]
    ) -> None:
        completed: TurnCompleted | None = None
        speaker = ReplySpeaker(
            self.tts, self.sink, self._emit, on_first_audio=lambda: self._set_state("speaking")
        )
        self._speaker = speaker
        async with speaker, aclosing(self.agent.run_turn(text)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    speaker.add_text(event.text)
                    self._emit(AgentText(event.text))
                elif isinstance(event, TurnCompleted):
                    completed = event
                elif isinstance(event, Notice):
                    self._emit(VoiceNotice(event.message, event.level))
                elif isinstance(event, ToolCallStarted):
                    self._emit(VoiceNotice(f"calling {event.call.name}"))
                elif isinstance(event, FillerSpeech):
                    # A slow tool is running: say something rather than leave dead air.
                    speaker.add_filler(event.text)
            speaker.finish()
            await speaker.spoken_all()
        await self.sink.drain()
        self._record(utterance, text, speaker, speech_end, timings, completed)

    def _record(
        self,
        utterance: Utterance,
        text: str,
        speaker: ReplySpeaker,
        speech_end: float,
        timings: dict[str, float],
        completed: TurnCompleted | None,
        *,
        interrupted: bool = False,
    ) -> VoiceTurn:
        stages = dict(completed.timings) if completed else {}
        stages.update(timings)
        if speaker.tts_ttfb is not None:
            stages["tts_ttfb"] = round(speaker.tts_ttfb, 1)
        if speaker.first_audio_at is not None:
            e2e = speaker.first_audio_at - speech_end + self.sink.output_latency
            stages["e2e_latency"] = round(e2e * 1000, 1)
        reply = speaker.heard_text() if interrupted else (completed.reply if completed else "")
        turn = VoiceTurn(
            index=len(self.turns) + 1,
            user=text,
            reply=reply,
            interrupted=interrupted,
            timings=stages,
            source=completed.source if completed else None,
            llm=completed.llm if completed else None,
            tool_calls=completed.tool_calls if completed else (),
            details={
                "user_speech_s": round(utterance.speech_seconds, 3),
                "reply_audio_s": round(speaker.written_seconds - speaker.dropped_seconds, 3),
                **self._false_interruptions(),
                **self._load_details(),
            },
        )
        self.turns.append(turn)
        self._emit(turn)
        return turn

    # -- barge-in ---------------------------------------------------------------------

    def _false_interruptions(self) -> dict[str, int]:
        """``{"false_interruptions": n}`` when sounds over this turn's reply resumed it."""
        count = self.judge.false_interruptions - self._false_before
        return {"false_interruptions": count} if count else {}

    async def interrupt(self) -> bool:
        """Cut the reply in progress and close its turn, as the user's speech would.

        Returns False when there was no turn to interrupt (e.g. a room's policy
        interrupting one participant's reply because another one speaks).
        """
        if not self._turn_active():
            return False
        await self._barge_in()
        return True

    async def _barge_in(self) -> None:
        task = self._turn_task
        speaker = self._speaker
        if speaker is not None:
            speaker.interrupt()  # silence first: the cancel below may take a few ms
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        self._emit(BargeIn(speaker.dropped_seconds if speaker else 0.0))

    def _after_barge_in(
        self, utterance: Utterance, text: str, speech_end: float, timings: dict[str, float]
    ) -> None:
        speaker = self._speaker
        heard = speaker.heard_text() if speaker is not None else ""
        if speaker is None or not heard:
            # Nothing was said yet: the user had not finished. Forget this turn and
            # hear its audio again with the next utterance.
            self._forget_turn(text)
            self._carry_over.append(utterance)
            return
        self._keep_heard_reply(text, heard)
        self._record(utterance, text, speaker, speech_end, timings, None, interrupted=True)

    def _turn_messages(self) -> list[ChatMessage]:
        """The messages this turn added to the history (the core adds them as it goes)."""
        before = self._history_before
        return [m for m in self.agent.conversation.messages if not any(m is b for b in before)]

    def _forget_turn(self, text: str) -> None:
        added = self._turn_messages()
        if added and added[0].role == "user" and added[0].content == text:
            self.agent.conversation.forget_from(added[0])

    def _keep_heard_reply(self, text: str, heard: str) -> None:
        """Make the history hold what the user heard of the reply, marked interrupted."""
        added = self._turn_messages()
        if not added or added[0].content != text:
            return
        last = added[-1]
        if last.role != "assistant" or last.tool_calls:
            return  # cut during a tool call: the core's record stands
        self.agent.conversation.forget_from(last)
        self.agent.conversation.add_assistant(heard, interrupted=True)

    # -- events ------------------------------------------------------------------------

    def _set_state(self, state: VoiceState) -> None:
        if state != self.state:
            self.state = state
            self._emit(StateChanged(state))

    def _emit(self, event: VoiceEvent) -> None:
        if self.observer is not None:
            with contextlib.suppress(Exception):  # a broken renderer must not stop the loop
                self.observer(event)

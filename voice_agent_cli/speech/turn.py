"""One user turn of the voice loop: the words, the agent's reply spoken, the record.

::

    pause in the speech ─► SpokenTurn (speculative) ─► STT ─► the silence these words need
                                                                │ a complete sentence:
                                                                ▼ the agent answers, held
    the silence lasts ─► confirm(utterance) ─► the held reply is heard at once
    the user speaks again ─► cancelled: forgotten (the words come back with the rest)

A turn starts at the end of the user's turn (the endpointer decided), or
speculatively at a pause in their speech: the audio so far is transcribed
and, when the words make a complete sentence, the agent starts answering
during the silence. Nothing of a speculative turn is heard or shown before
:meth:`SpokenTurn.confirm` (its reply is held, its events wait, and a tool
call waits: no side effect for words the user may not have finished).

Timings (ms) of a turn, on the path to its first audio, from the end of
speech; they add up to ``e2e_latency``:

- ``end_of_turn_delay``: end of speech -> end of turn decided (the silence wait);
- ``e2e_stt``: -> the transcript (0 when the speculative one was early);
- ``e2e_llm``: -> the first sentence of the reply (0 when a speculative reply had it);
- ``e2e_tts``: -> its audio in the sink (synthesis and the sink's own latency).

Besides, ``transcription_delay`` (end of speech -> transcript ready),
``tts_ttfb`` (first sentence -> its audio) and the agent's own timings
(``llm_ttft`` ...).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from contextlib import aclosing
from dataclasses import dataclass
from typing import TYPE_CHECKING

from voice_agent_cli.contracts.events import (
    FillerSpeech,
    Notice,
    StageTimings,
    TextDelta,
    ToolCallStarted,
    TurnCompleted,
)
from voice_agent_cli.errors import VAError
from voice_agent_cli.speech.end_of_turn import Verdict, end_of_turn_silence, verdict
from voice_agent_cli.speech.events import (
    AgentText,
    UserTranscript,
    VoiceEvent,
    VoiceState,
    VoiceTurn,
)
from voice_agent_cli.speech.history_repair import HistoryRepair
from voice_agent_cli.speech.sentences import SentenceSplitter
from voice_agent_cli.speech.speaker import ReplySpeaker

_logger = logging.getLogger("va.speech")

if TYPE_CHECKING:
    from voice_agent_cli.speech.carry_over import CarryOver
    from voice_agent_cli.speech.endpointing import Endpointer, Utterance
    from voice_agent_cli.speech.interruption import InterruptionJudge
    from voice_agent_cli.speech.io import AudioSink
    from voice_agent_cli.speech.options import TurnRunner, VoiceOptions
    from voice_agent_cli.speech.readiness import ModelsReady
    from voice_agent_cli.speech.stt import SpeechToText, Transcript
    from voice_agent_cli.speech.tts import TextToSpeech


@dataclass
class TurnContext:
    """What every turn of one voice session shares."""

    agent: TurnRunner
    stt: SpeechToText
    tts: TextToSpeech
    sink: AudioSink
    options: VoiceOptions
    endpointer: Endpointer
    judge: InterruptionJudge
    models: ModelsReady
    #: The session's turns so far (a turn appends its record).
    turns: list[VoiceTurn]
    #: Utterances of turns the user had not finished: heard again with the next one.
    carry_over: CarryOver
    emit: Callable[[VoiceEvent], None]
    set_state: Callable[[VoiceState], None]
    polite: bool
    stop_on_error: bool


class SpokenTurn:
    """One turn: ``run`` it as a task; cancelling it is a barge-in (or a withdrawn guess)."""

    def __init__(
        self,
        context: TurnContext,
        *,
        utterance: Utterance | None = None,
        transcript: asyncio.Task[Transcript] | None = None,
    ) -> None:
        self.context = context
        #: The user's utterance; ``None`` until a speculative turn is confirmed.
        self.utterance = utterance
        self._transcript = transcript
        self._transcript_at: float | None = None
        self._decided_at = time.perf_counter() if utterance is not None else 0.0
        self._confirmed = asyncio.Event()
        #: The reply may be heard: the turn is confirmed and its words are not unfinished.
        self._released = asyncio.Event()
        #: Holds the reply while the turn detector judges the words (see _hold_if_unfinished).
        self._hold: asyncio.Task[None] | None = None
        #: A speculative reply under way (a complete sentence): heard once confirmed.
        self._answering_on_confirm = False
        self._pending: list[VoiceEvent] = []
        self.speaker: ReplySpeaker | None = None
        self.text = ""
        self.finished = False
        self._repair = HistoryRepair(context.agent.conversation)
        self._false_before = context.judge.false_interruptions
        #: The turn detector's P(the sentence ends here), when it was asked.
        self._end_probability: float | None = None
        if utterance is not None:
            self._confirmed.set()
        else:
            transcript_task = transcript
            assert transcript_task is not None, "a speculative turn starts from a transcript"
            transcript_task.add_done_callback(lambda _: self._transcript_ready())

    @property
    def speculative(self) -> bool:
        """True until the user's turn is known to be over."""
        return not self._confirmed.is_set()

    @property
    def has_spoken(self) -> bool:
        """True once the reply's audio has started (before that, the user had not finished)."""
        return self.speaker is not None and self.speaker.first_audio_at is not None

    def confirm(self, utterance: Utterance) -> None:
        """The silence lasted: this is the user's turn; let the reply be heard."""
        if not self.speculative:
            return
        self.utterance = utterance
        self._decided_at = time.perf_counter()
        self._confirmed.set()
        if not self.finished:
            self.context.set_state("thinking")
        if self._answering_on_confirm:
            self._release()

    def _release(self) -> None:
        """Let the reply be heard: its held events and audio go out."""
        if self._released.is_set():
            return
        self._released.set()
        pending, self._pending = self._pending, []
        for event in pending:
            self.context.emit(event)
        if self.speaker is not None:
            self.speaker.release()

    def _emit(self, event: VoiceEvent) -> None:
        if not self._released.is_set():
            self._pending.append(event)
        else:
            self.context.emit(event)

    def _transcript_ready(self) -> None:
        self._transcript_at = time.perf_counter()

    async def run(self) -> None:
        """Transcribe, answer, speak; records the turn in ``context.turns``."""
        context = self.context
        if not self.speculative:
            context.set_state("thinking")
        timings: StageTimings = {}
        try:
            waited = await context.models.wait()
            if waited:
                timings["load_wait"] = waited
            self.text = (await self._words()).text.strip()
            if not any(ch.isalnum() for ch in self.text):
                return  # noise the VAD let through: no words, no turn
            await self._until_worth_answering()
            self._emit(UserTranscript(self.text))
            await self._answer(timings)
        except asyncio.CancelledError:
            self._after_cancel(timings)
            raise
        except VAError as exc:
            if context.stop_on_error:
                raise
            if not self.speculative:
                self._release()  # the error is heard of, held or not
            self._emit(Notice(str(exc), "error"))
        finally:
            if self._hold is not None:
                self._hold.cancel()
            self.speaker = None
            self.finished = True
            if not self.speculative:
                context.set_state("listening")

    async def _words(self) -> Transcript:
        """The transcript: the speculative one if it came through, else the utterance's."""
        task = self._transcript
        if task is not None and not task.cancelled():
            with contextlib.suppress(VAError):  # else: try again on the whole utterance
                return await asyncio.shield(task)
        await self._confirmed.wait()
        assert self.utterance is not None
        transcript = await self.context.stt.transcribe(self.utterance.audio)
        self._transcript_at = time.perf_counter()
        return transcript

    async def _until_worth_answering(self) -> None:
        """Wait until the reply may start; it is heard once :meth:`_release` says so.

        Speculative: tell the endpointer what silence these words need, and
        answer (held) only a complete sentence before the turn is over.
        Confirmed: words that trail off ("... and") buy the user some time;
        otherwise the reply starts at once, and the turn detector's verdict
        (20-150 ms) comes in meanwhile, holding the reply if it says the words
        are unfinished ("Can you tell me"): its time is not added to the reply's.
        """
        context, options = self.context, self.context.options
        if self.speculative:
            words = await self._verdict()
            if self.speculative:  # still in the pause (else: confirmed while judging)
                if context.endpointer.in_speech:
                    context.endpointer.end_silence_ms = end_of_turn_silence(
                        words,
                        default_ms=options.endpointing.end_silence_ms,
                        complete_ms=options.complete_silence_ms,
                        unfinished_ms=options.unfinished_silence_ms,
                    )
                if words == "complete":
                    self._answering_on_confirm = True
                    return  # answer now; the reply is held until the turn ends
                await self._confirmed.wait()
        else:
            words = verdict(self.text)  # the rules; the model's verdict comes in meanwhile
            if words != "unfinished" and options.turn_detector is not None and not context.polite:
                self._hold = asyncio.create_task(self._hold_if_unfinished(), name="voice-hold")
                return
        if not context.polite and words == "unfinished":
            await self._wait_for_the_rest()
        self._release()

    async def _hold_if_unfinished(self) -> None:
        """Release the reply, after the longer silence if the model hears unfinished words."""
        try:
            if await self._verdict() == "unfinished":
                await self._wait_for_the_rest()
        except Exception:  # a broken detector never holds a reply for good
            _logger.warning("the turn detector failed; the reply goes on", exc_info=True)
        self._release()

    async def _wait_for_the_rest(self) -> None:
        """Wait out ``unfinished_silence_ms`` from the end of speech. Speech meanwhile
        cancels this turn and joins it (carry-over); zero when the endpointer waited."""
        waited = time.perf_counter() - self._speech_end()
        await asyncio.sleep(max(0.0, self.context.options.unfinished_silence_ms / 1000 - waited))

    async def _verdict(self) -> Verdict:
        """What the words say of the end of the turn: the rules, then the turn detector."""
        options = self.context.options
        detector = options.turn_detector
        if detector is None or verdict(self.text) == "unfinished":
            return verdict(self.text)
        # The user's words alone: the agent's last words as context cost ~45 tokens a
        # turn (read ahead, they slowed the next transcript by ~100 ms on 2 cores).
        probability = await detector.end_probability(self.text)
        self._end_probability = probability
        return verdict(self.text, probability, unfinished_below=options.unfinished_below)

    async def _answer(self, timings: StageTimings) -> None:
        context = self.context
        completed: TurnCompleted | None = None
        speaker = ReplySpeaker(
            context.tts,
            context.sink,
            self._emit,
            on_first_audio=lambda: context.set_state("speaking"),
            held=not self._released.is_set(),
            splitter=SentenceSplitter(first_clause_words=context.options.first_clause_words),
        )
        self.speaker = speaker
        async with speaker, aclosing(context.agent.run_turn(self.text)) as events:
            async for event in events:
                if isinstance(event, TextDelta):
                    speaker.add_text(event.text)
                    self._emit(AgentText(event.text))
                elif isinstance(event, TurnCompleted):
                    completed = event
                elif isinstance(event, Notice):
                    self._emit(event)
                elif isinstance(event, ToolCallStarted):
                    await self._released.wait()  # no tool runs on a guess
                    self._emit(Notice(f"calling {event.call.name}"))
                elif isinstance(event, FillerSpeech):
                    # A slow tool is running: say something rather than leave dead air.
                    speaker.add_filler(event.text)
            speaker.finish()
            await self._released.wait()
            await speaker.spoken_all()
        await context.sink.drain()
        self._record(speaker, timings, completed)

    # -- the record ------------------------------------------------------------------

    def _speech_end(self) -> float:
        """The end of the user's speech, on the perf_counter clock."""
        assert self.utterance is not None
        return self._decided_at - self.utterance.end_of_turn_delay_ms / 1000

    def _stages(self, speaker: ReplySpeaker) -> dict[str, float]:
        """The stages of the path from the end of speech to the first audio (see above)."""
        assert self.utterance is not None
        speech_end = self._speech_end()
        stages = {"end_of_turn_delay": round(self.utterance.end_of_turn_delay_ms, 1)}
        if self._transcript_at is not None:
            delay = max(0.0, self._transcript_at - speech_end)
            stages["transcription_delay"] = round(delay * 1000, 1)
        if speaker.tts_ttfb is not None:
            stages["tts_ttfb"] = round(speaker.tts_ttfb, 1)
        if speaker.first_audio_at is None or self._transcript_at is None:
            return stages
        heard = max(self._decided_at, self._transcript_at)
        first_text = max(heard, speaker.first_text_at or heard)
        stages["e2e_stt"] = round((heard - self._decided_at) * 1000, 1)
        stages["e2e_llm"] = round((first_text - heard) * 1000, 1)
        audio = speaker.first_audio_at + self.context.sink.output_latency
        stages["e2e_tts"] = round((audio - first_text) * 1000, 1)
        stages["e2e_latency"] = round((audio - speech_end) * 1000, 1)
        return stages

    def _record(
        self,
        speaker: ReplySpeaker,
        timings: StageTimings,
        completed: TurnCompleted | None,
        *,
        interrupted: bool = False,
    ) -> None:
        context = self.context
        assert self.utterance is not None
        stages = dict(completed.timings) if completed else {}
        stages.update(timings)
        stages.update(self._stages(speaker))
        reply = speaker.heard_text() if interrupted else (completed.reply if completed else "")
        false_interruptions = context.judge.false_interruptions - self._false_before
        turn = VoiceTurn(
            index=len(context.turns) + 1,
            user=self.text,
            reply=reply,
            interrupted=interrupted,
            timings=stages,
            source=completed.source if completed else None,
            llm=completed.llm if completed else None,
            tool_calls=completed.tool_calls if completed else (),
            details={
                "user_speech_s": round(self.utterance.speech_seconds, 3),
                "speech_end_s": round(self.utterance.speech_end, 3),
                "reply_audio_s": round(speaker.written_seconds - speaker.dropped_seconds, 3),
                **({"false_interruptions": false_interruptions} if false_interruptions else {}),
                **({} if context.turns else context.models.load_details()),
            },
        )
        context.turns.append(turn)
        context.emit(turn)

    # -- cut short ---------------------------------------------------------------------

    def _after_cancel(self, timings: StageTimings) -> None:
        """A barge-in (or a speculative turn withdrawn): the history keeps what was heard."""
        speaker = self.speaker
        heard = speaker.heard_text() if speaker is not None else ""
        if self.speculative:
            # The user spoke on: the endpointer still holds these words.
            self._repair.forget_turn(self.text)
            return
        if speaker is None or not heard:
            # Nothing was said yet: the user had not finished. Forget this turn and
            # hear its audio again with the next utterance.
            self._repair.forget_turn(self.text)
            assert self.utterance is not None
            self.context.carry_over.keep(self.utterance)
            return
        self._repair.keep_heard_reply(self.text, heard)
        self._record(speaker, timings, None, interrupted=True)

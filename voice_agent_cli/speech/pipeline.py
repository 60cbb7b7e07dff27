"""The voice loop: frames in, turns through the agent, speech out, with barge-in.

::

    source ─► echo canceller ─► endpointer (Silero VAD) ─► SpokenTurn ─► agent.run_turn
                                       │                        │ text deltas
        user speech over the reply ─► InterruptionJudge         ▼
             hold the sink; cut the turn, or resume ────► sentences ─► TTS ─► sink

:class:`VoiceSession` coordinates; the parts have their own modules:

- a turn (:mod:`.turn`): transcript, reply, record, and what a cut leaves in the
  history (:mod:`.history_repair`);
- the end of the turn (:mod:`.end_of_turn`): the silence the words need;
- barge-in (:mod:`.interruption`): an "uh-huh" resumes the reply, real speech cuts it;
- the models still loading (:mod:`.readiness`): a turn waits for them.

One reader loop runs the endpointer; each user turn is a task (``voice-turn-N``),
started at the first pause in the speech (speculative: its reply is held until
the silence ends the turn, and speech again withdraws it) or at the end of the
turn. Speech before the reply's first word means the user had not finished
(:mod:`.carry_over`); over the reply, it cuts it: the sink is cleared and the
turn task cancelled, which closes the agent's turn generator. A polite source
(files) is not read while the agent answers, so its turns never overlap.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from contextlib import aclosing
from typing import TYPE_CHECKING

from voice_agent_cli.speech.carry_over import CarryOver
from voice_agent_cli.speech.echo import EchoCanceller
from voice_agent_cli.speech.endpointing import (
    Endpointer,
    EndpointEvent,
    SpeechPaused,
    SpeechResumed,
    SpeechStarted,
    Utterance,
    UtteranceDiscarded,
    UtteranceEnded,
)
from voice_agent_cli.speech.events import BargeIn, StateChanged, UserSpeaking, VoiceState
from voice_agent_cli.speech.interruption import InterruptionJudge
from voice_agent_cli.speech.options import EchoMode, TurnRunner, VoiceOptions
from voice_agent_cli.speech.readiness import ModelsReady
from voice_agent_cli.speech.self_hearing import SelfHearing
from voice_agent_cli.speech.stt import in_conversation
from voice_agent_cli.speech.turn import SpokenTurn, TurnContext

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import AudioFrame, Samples
    from voice_agent_cli.speech.events import VoiceEvent, VoiceTurn
    from voice_agent_cli.speech.io import AudioSink, AudioSource
    from voice_agent_cli.speech.stt import SpeechToText, Transcript
    from voice_agent_cli.speech.tts import TextToSpeech

__all__ = ["EchoMode", "TurnRunner", "VoiceOptions", "VoiceSession"]


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
        self.agent, self.source, self.sink = agent, source, sink
        # Whisper hears each utterance knowing the agent's last words (speech/stt.py).
        # The interruption judge hears a backchannel without it (a prompt invents words).
        self.stt = in_conversation(stt, agent)
        self.options = options = options or VoiceOptions()
        self.observer = observer
        self.endpointer = endpointer or Endpointer(options.endpointing)
        self.echo = echo
        if self.echo is None and options.echo == "aec":
            self.echo = EchoCanceller.between(source, sink)
        if self.echo is not None:
            sink.add_listener(self.echo.reference)
        self.self_hearing = SelfHearing(options, sink, self.endpointer, self.echo)
        #: A polite source is not read while the agent answers (see AudioSource).
        self.polite = bool(getattr(source, "polite", not source.realtime))
        self.state: VoiceState = "listening"
        self.turns: list[VoiceTurn] = []
        self.judge = InterruptionJudge(
            options.interruption, stt, sink, cut=self.interrupt, emit=self._emit
        )
        self.models = ModelsReady(ready)
        self._carry_over = CarryOver()
        self._context = TurnContext(
            agent, self.stt, tts, sink, options, self.endpointer, self.judge, self.models,
            self.turns, self._carry_over, self._emit, self._set_state, self.polite,
            self.polite if options.stop_on_error is None else options.stop_on_error,
        )  # fmt: skip
        self._turn: SpokenTurn | None = None
        self._turn_task: asyncio.Task[None] | None = None
        self._failure: BaseException | None = None

    async def __aenter__(self) -> VoiceSession:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def run(self) -> list[VoiceTurn]:
        """Listen and answer until the source ends; returns the turns taken."""
        if self.options.turn_detector is not None and self.models.loading is None:
            # Not loaded with the other models (speech/build.py load_models): load it
            # now, while the user speaks.
            self.options.turn_detector.preload()
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
        """Cancel the turn in flight (and its speculative transcription)."""
        await self.judge.aclose()
        await self._cancel_turn()

    async def _on_frame(self, frame: AudioFrame) -> None:
        heard = self.self_hearing.listen(frame)
        if heard is None:
            return
        for event in self.endpointer.push(heard):
            await self._on_endpoint(event)
        await self.judge.watch(self.endpointer.speech_seconds)

    async def _on_endpoint(self, event: EndpointEvent) -> None:
        if isinstance(event, SpeechStarted):
            self._emit(UserSpeaking(event.at))
            if self._turn_active() and self.options.barge_in and self.self_hearing.may_barge_in():
                if (
                    self._turn is not None
                    and self._turn.has_spoken
                    and self.options.interruption.resume_false_interruption
                ):
                    self.judge.onset()  # hold the reply; cut or resume when the words are in
                else:
                    await self.interrupt()
        elif isinstance(event, SpeechPaused):
            await self._withdraw_speculation()
            self.judge.speech_paused(event.audio)
            if self.options.speculative_stt and not self._turn_active() and self.models.ready:
                self._speculate(event.audio)
        elif isinstance(event, SpeechResumed | UtteranceDiscarded):
            await self._withdraw_speculation()
            if isinstance(event, SpeechResumed):
                self.judge.speech_resumed()
            else:
                self.judge.discarded()
        elif isinstance(event, UtteranceEnded):
            if await self.judge.ended(event.utterance.audio):
                await self._on_utterance(event.utterance)
            else:
                await self._withdraw_speculation()  # a backchannel: no turn

    def _speculate(self, audio: Samples) -> None:
        """A pause: transcribe the words so far and maybe start the reply (held)."""
        audio = self._carry_over.audio_with(audio)
        words = asyncio.create_task(self.stt.transcribe(audio), name="voice-stt-speculative")
        self._start(SpokenTurn(self._context, transcript=words), words)

    async def _withdraw_speculation(self) -> None:
        if self._turn is not None and self._turn.speculative:
            await self._cancel_turn()

    async def _on_utterance(self, utterance: Utterance) -> None:
        turn = self._turn
        if turn is not None and turn.speculative:
            turn.confirm(self._carry_over.merged(utterance))
        elif self._turn_active():
            return  # barge-in is off (or half-duplex while speaking): the agent has the floor
        else:
            self._start(SpokenTurn(self._context, utterance=self._carry_over.merged(utterance)))
        if self.polite:
            await self._wait_for_turn()

    def _start(self, turn: SpokenTurn, words: asyncio.Task[Transcript] | None = None) -> None:
        self._turn = turn
        task = asyncio.create_task(turn.run(), name=f"voice-turn-{len(self.turns) + 1}")
        self._turn_task = task
        if words is not None:  # the speculative transcription ends with its turn
            task.add_done_callback(lambda _: words.cancel())
        task.add_done_callback(self._turn_done)

    def _turn_active(self) -> bool:
        return self._turn_task is not None and not self._turn_task.done()

    async def _wait_for_turn(self) -> None:
        if self._turn_task is not None:
            await asyncio.wait([self._turn_task])

    async def _cancel_turn(self) -> None:
        task, self._turn_task, self._turn = self._turn_task, None, None
        if task is not None and not task.done():
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)

    def _turn_done(self, task: asyncio.Task[None]) -> None:
        # A turn's failure surfaces in the reader loop (no exception is lost).
        if not task.cancelled() and task.exception() is not None:
            self._failure = task.exception()

    def _raise_failure(self) -> None:
        if self._failure is not None:
            failure, self._failure = self._failure, None
            raise failure

    async def interrupt(self) -> bool:
        """Cut the reply in progress and close its turn, as the user's speech would.

        Returns False when there was no turn to interrupt (e.g. a room's policy
        interrupting one participant's reply because another one speaks).
        """
        if not self._turn_active():
            return False
        speaker = self._turn.speaker if self._turn is not None else None
        if speaker is not None:
            speaker.interrupt()  # silence first: the cancel below may take a few ms
        await self._cancel_turn()
        self._emit(BargeIn(speaker.dropped_seconds if speaker else 0.0))
        return True

    def _set_state(self, state: VoiceState) -> None:
        if state != self.state:
            self.state = state
            self._emit(StateChanged(state))

    def _emit(self, event: VoiceEvent) -> None:
        if self.observer is not None:
            with contextlib.suppress(Exception):  # a broken renderer must not stop the loop
                self.observer(event)

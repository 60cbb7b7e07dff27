"""One voice pipeline per speaking participant, all answering through one agent.

Each participant whose microphone the policy listens to gets a
:class:`~voice_agent_cli.speech.pipeline.VoiceSession` (VAD, endpointing,
STT, the agent turn, TTS), run as the task ``room-voice-<identity>``:

- its source is the participant's track (:class:`~.audio_in.ParticipantAudio`);
- its sink is its own view of the agent's one track (:class:`~.audio_out.TrackSink`);
- its agent is :class:`ParticipantTurns`: the shared agent with the room's one
  conversation, the speaker's identity on every user turn, and the answer
  policy applied to each transcript.

Barge-in across participants: when anyone the agent listens to starts
speaking while the agent is *speaking* a reply to someone else, that reply is
cut and its turn closed, as if its own addressee had spoken (``barge_in =
"anyone"``). While the agent is only thinking, another person's speech does
not cancel the question being answered.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voice_agent_cli.contracts.events import Notice
from voice_agent_cli.observe.metrics import Metrics
from voice_agent_cli.rooms.audio_in import ParticipantAudio
from voice_agent_cli.rooms.events import ParticipantVoice, RoomEvent
from voice_agent_cli.speech.events import UserSpeaking, VoiceEvent, VoiceTurn
from voice_agent_cli.speech.pipeline import VoiceSession

if TYPE_CHECKING:
    from voice_agent_cli.contracts.events import TurnEvent
    from voice_agent_cli.core.agent import Agent
    from voice_agent_cli.core.conversation import Conversation
    from voice_agent_cli.rooms.audio_out import AgentTrack, TrackSink
    from voice_agent_cli.rooms.policy import AnswerPolicy, Decision
    from voice_agent_cli.rooms.settings import BargeInScope
    from voice_agent_cli.speech.endpointing import Endpointer
    from voice_agent_cli.speech.pipeline import VoiceOptions
    from voice_agent_cli.speech.stt import SpeechToText
    from voice_agent_cli.speech.tts import TextToSpeech

_logger = logging.getLogger("va.rooms")


class RoomVoiceSession(VoiceSession):
    """A participant's voice loop, which the room may interrupt when someone else speaks."""

    @property
    def speaking(self) -> bool:
        """True while the agent's reply to this participant is being spoken."""
        return self.state == "speaking"


async def _no_turn() -> AsyncGenerator[TurnEvent, None]:
    return
    yield  # pragma: no cover - makes this an async generator


class ParticipantTurns:
    """The agent as one participant's voice loop sees it (its ``TurnRunner``)."""

    def __init__(
        self,
        agent: Agent,
        conversation: Conversation,
        identity: str,
        policy: AnswerPolicy,
        on_skipped: Callable[[str, Decision], None] | None = None,
    ) -> None:
        self.agent = agent
        self.conversation = conversation
        self.identity = identity
        self.policy = policy
        self.on_skipped = on_skipped

    def run_turn(self, text: str) -> AsyncGenerator[TurnEvent, None]:
        """Answer ``text`` when the policy says so, as this participant, in the room's history."""
        decision = self.policy.decide(self.identity, text)
        if not decision.answer:
            if self.on_skipped is not None:
                self.on_skipped(self.identity, decision)
            return _no_turn()
        return self.agent.run_turn(
            decision.text, speaker=self.identity, conversation=self.conversation
        )


@dataclass
class _Pipeline:
    identity: str
    session: RoomVoiceSession
    source: ParticipantAudio
    sink: TrackSink
    task: asyncio.Task[Any]


class RoomVoices:
    """The voice pipelines of one room; ``aclose`` stops every one of them."""

    def __init__(
        self,
        agent: Agent,
        *,
        stt: SpeechToText,
        tts: TextToSpeech,
        options: VoiceOptions,
        policy: AnswerPolicy,
        track: AgentTrack,
        conversation: Conversation,
        observer: Callable[[RoomEvent], None],
        barge_in: BargeInScope = "anyone",
        max_pipelines: int = 8,
        endpointer_factory: Callable[[], Endpointer] | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.agent = agent
        #: Where the voice stages of each answered turn are recorded.
        self.metrics = metrics if metrics is not None else Metrics()
        self.stt = stt
        self.tts = tts
        self.options = options
        self.policy = policy
        self.track = track
        self.conversation = conversation
        self.observer = observer
        self.barge_in = barge_in
        self.max_pipelines = max_pipelines
        self.endpointer_factory = endpointer_factory
        self._pipelines: dict[str, _Pipeline] = {}
        self._tasks: set[asyncio.Task[Any]] = set()
        #: Identities skipped by the policy in their last turn (their turn is not an answer).
        self.skipped: set[str] = set()

    def __contains__(self, identity: object) -> bool:
        return identity in self._pipelines

    @property
    def identities(self) -> list[str]:
        """Participants with a running pipeline."""
        return list(self._pipelines)

    def session(self, identity: str) -> RoomVoiceSession | None:
        """The voice session of ``identity``, if one runs."""
        pipeline = self._pipelines.get(identity)
        return pipeline.session if pipeline else None

    def start(self, identity: str, audio_track: Any) -> bool:
        """Listen to ``identity``'s microphone; False when the policy or the limit says no."""
        if not self.policy.listens_to(identity):
            return False
        if identity in self._pipelines:
            self._spawn(self.stop(identity), f"room-voice-restart-{identity}")
        elif len(self._pipelines) >= self.max_pipelines:
            self.observer(
                Notice(
                    f"not transcribing {identity}: {self.max_pipelines} participants already "
                    "are ([livekit] max_pipelines)",
                    "warning",
                )
            )
            return False
        source = ParticipantAudio(audio_track, identity=identity, frame_ms=20)
        sink = self.track.sink()
        session = RoomVoiceSession(
            ParticipantTurns(self.agent, self.conversation, identity, self.policy, self._skipped),
            source,
            sink,
            stt=self.stt,
            tts=self.tts,
            options=self.options,
            observer=lambda event: self._on_voice(identity, event),
            endpointer=self.endpointer_factory() if self.endpointer_factory else None,
        )
        task = asyncio.create_task(session.run(), name=f"room-voice-{identity}")
        pipeline = _Pipeline(identity, session, source, sink, task)
        self._pipelines[identity] = pipeline
        task.add_done_callback(lambda done: self._ended(pipeline, done))
        _logger.info("listening to %s", identity)
        return True

    async def stop(self, identity: str) -> None:
        """Stop listening to ``identity`` (their turn in flight is cancelled)."""
        pipeline = self._pipelines.pop(identity, None)
        if pipeline is None:
            return
        pipeline.task.cancel()
        await asyncio.gather(pipeline.task, return_exceptions=True)
        await self._release(pipeline)

    @staticmethod
    async def _release(pipeline: _Pipeline) -> None:
        await pipeline.session.aclose()
        await pipeline.source.aclose()
        await pipeline.sink.aclose()

    async def aclose(self) -> None:
        """Stop every pipeline and every helper task."""
        for identity in list(self._pipelines):
            await self.stop(identity)
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- events ----------------------------------------------------------------------------

    def _on_voice(self, identity: str, event: VoiceEvent) -> None:
        if isinstance(event, UserSpeaking) and self.barge_in == "anyone":
            for other, pipeline in self._pipelines.items():
                if other != identity and pipeline.session.speaking:
                    self._spawn(pipeline.session.interrupt(), f"room-barge-in-{other}")
        if isinstance(event, VoiceTurn):
            if identity in self.skipped:
                self.skipped.discard(identity)
                return  # not addressed to the agent: the transcript was enough
            event.report_metrics(self.metrics)
        self.observer(ParticipantVoice(identity, event))

    def _skipped(self, identity: str, decision: Decision) -> None:
        self.skipped.add(identity)
        _logger.info("not answering %s: %s", identity, decision.reason)

    def _ended(self, pipeline: _Pipeline, task: asyncio.Task[Any]) -> None:
        if self._pipelines.get(pipeline.identity) is pipeline:
            # It ended by itself (the track ended or the loop failed): release it here.
            del self._pipelines[pipeline.identity]
            self._spawn(self._release(pipeline), f"room-voice-release-{pipeline.identity}")
        if task.cancelled():
            return
        failure = task.exception()
        if failure is not None:
            _logger.warning("voice pipeline of %s failed: %s", pipeline.identity, failure)
            self.observer(Notice(f"stopped listening to {pipeline.identity}: {failure}", "error"))

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

"""The agent in one LiveKit room: the connection, the people, the voices, the transcripts.

:class:`RoomAgent` wires the parts together and follows the room's events::

    connection ─(each (re)connect)─► publish the agent track, announce who is there,
                                     listen to every microphone already subscribed
    participant_connected / disconnected ─► participants, pipelines started/stopped
    track_subscribed / unsubscribed (microphones) ─► voices.start / voices.stop
    active_speakers_changed ─► who is speaking
    pipeline events ─► transcripts into the room, lk.agent.state, observers

The voice part is enabled separately (:meth:`RoomAgent.enable_voice`), so
``va join`` can join first (a bad URL or token fails in well under a second)
and load its models while already in the room. Closing leaves cleanly: the
pipelines stop, pending transcripts are sent, the track is unpublished, the
room is left, the audio source is released.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from voice_agent_cli.observe.metrics import Metrics
from voice_agent_cli.rooms.audio_out import AgentTrack
from voice_agent_cli.rooms.events import (
    ConnectionChanged,
    DataMessage,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantVoice,
    RoomEvent,
    SpeakingChanged,
)
from voice_agent_cli.rooms.participants import RoomParticipants
from voice_agent_cli.rooms.sdk import (
    AGENT_STATE_ATTRIBUTE,
    is_agent,
    is_microphone,
    participant_kind_name,
)
from voice_agent_cli.rooms.transcripts import TranscriptPublisher, VoiceCaptions
from voice_agent_cli.rooms.voices import RoomVoices
from voice_agent_cli.speech.events import StateChanged, VoiceTurn

if TYPE_CHECKING:
    from voice_agent_cli.core.agent import Agent
    from voice_agent_cli.core.conversation import Conversation
    from voice_agent_cli.rooms.connection import RoomConnection
    from voice_agent_cli.rooms.policy import AnswerPolicy
    from voice_agent_cli.rooms.sdk import RoomLike
    from voice_agent_cli.rooms.settings import BargeInScope
    from voice_agent_cli.speech.endpointing import Endpointer
    from voice_agent_cli.speech.pipeline import VoiceOptions
    from voice_agent_cli.speech.stt import SpeechToText
    from voice_agent_cli.speech.tts import TextToSpeech

_logger = logging.getLogger("va.rooms")

RoomObserver = Callable[[RoomEvent], None]


class RoomAgent:
    """Keeps the agent in a room and answers its participants; ``aclose`` leaves."""

    def __init__(
        self,
        connection: RoomConnection,
        *,
        identity: str,
        observer: RoomObserver | None = None,
        track: AgentTrack | None = None,
        transcripts: TranscriptPublisher | None = None,
        metrics: Metrics | None = None,
    ) -> None:
        self.connection = connection
        #: Where the room's gauges, counters and events go (its own registry unless
        #: given the command's).
        self.metrics = metrics if metrics is not None else Metrics()
        self.identity = identity
        self.track = track or AgentTrack()
        self.transcripts = transcripts or TranscriptPublisher(metrics=self.metrics)
        self.captions = VoiceCaptions(self.transcripts, identity)
        self.participants = RoomParticipants()
        self.voices: RoomVoices | None = None
        self.agent_state = "initializing"
        self._observers: list[RoomObserver] = [observer] if observer else []
        self._room: RoomLike | None = None
        self._handlers: dict[str, Callable[..., None]] = {}
        self._mics: dict[str, tuple[Any, str]] = {}  # identity -> (track, publication sid)
        self._tasks: set[asyncio.Task[Any]] = set()
        self._attributes_allowed = True
        self._last_state: str | None = None
        self._last_connection = ""
        connection.on_connected(self._attach)
        connection.on_lost(self._detach)
        connection.add_listener(self._on_connection)

    async def __aenter__(self) -> RoomAgent:
        await self.join()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def add_observer(self, observer: RoomObserver) -> None:
        """Have ``observer`` see every room event."""
        self._observers.append(observer)

    @property
    def room_name(self) -> str:
        """The room's name."""
        return self.connection.room_name

    async def join(self) -> None:
        """Start the agent's audio track and join the room (raises a RoomError on failure)."""
        if self.track.source is None:
            await self.track.start()
        await self.connection.connect()

    def enable_voice(
        self,
        agent: Agent,
        *,
        stt: SpeechToText,
        tts: TextToSpeech,
        options: VoiceOptions,
        policy: AnswerPolicy,
        barge_in: BargeInScope = "anyone",
        max_pipelines: int = 8,
        endpointer_factory: Callable[[], Endpointer] | None = None,
        conversation: Conversation | None = None,
    ) -> RoomVoices:
        """Start listening: one pipeline per microphone, now and as people arrive.

        The room gets one conversation: everyone's turns share its history
        (``conversation``, e.g. the room's earlier turns; a new one by default).
        """
        self.voices = RoomVoices(
            agent,
            stt=stt,
            tts=tts,
            options=options,
            policy=policy,
            track=self.track,
            conversation=conversation or agent.new_conversation(),
            observer=self._emit,
            barge_in=barge_in,
            max_pipelines=max_pipelines,
            endpointer_factory=endpointer_factory,
            metrics=self.metrics,
        )
        for identity, (audio, _sid) in list(self._mics.items()):
            self._listen(identity, audio)
        self._update_agent_state()
        return self.voices

    async def run(self, stop: asyncio.Event) -> None:
        """Stay in the room until ``stop`` is set; raise when the room is lost for good."""
        staying = asyncio.create_task(self.connection.run(), name="room-connection")
        waiting = asyncio.create_task(stop.wait(), name="room-stop")
        try:
            done, _ = await asyncio.wait({staying, waiting}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            for task in (staying, waiting):
                task.cancel()
            await asyncio.gather(staying, waiting, return_exceptions=True)
        if staying in done and not staying.cancelled():
            staying.result()  # a permanent failure: raised to the command

    async def aclose(self) -> None:
        """Leave: stop the pipelines, send what is queued, unpublish, disconnect, release."""
        if self.voices is not None:
            await self.voices.aclose()
        await self.transcripts.aclose()
        room = self._room
        if room is not None:
            await self.track.unpublish(room)
        await self.connection.aclose()
        await self.track.aclose()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)

    # -- the room, on each (re)connection ------------------------------------------------------

    async def _attach(self, room: RoomLike) -> None:
        self._room = room
        self._handlers = {
            "participant_connected": self._on_participant_connected,
            "participant_disconnected": self._on_participant_disconnected,
            "track_subscribed": self._on_track_subscribed,
            "track_unsubscribed": self._on_track_unsubscribed,
            "active_speakers_changed": self._on_active_speakers,
            "data_received": self._on_data,
        }
        for event, handler in self._handlers.items():
            room.on(event, handler)
        self.transcripts.attach(room)
        await self.track.publish(room)
        # Who was there before us, and the microphones the SDK subscribed to already.
        for participant in list(room.remote_participants.values()):
            self._on_participant_connected(participant)
            for publication in list(participant.track_publications.values()):
                if publication.track is not None:
                    self._on_track_subscribed(publication.track, publication, participant)
        self._last_state = None
        self._update_agent_state()

    async def _detach(self) -> None:
        """The room is gone: stop listening; a new room re-announces everyone."""
        room, self._room = self._room, None
        if room is not None:
            for event, handler in self._handlers.items():
                room.off(event, handler)
        self.transcripts.attach(None)
        if self.voices is not None:
            for identity in self.voices.identities:
                await self.voices.stop(identity)
        self._mics.clear()
        self.captions.clear()
        self.participants.clear()
        self.metrics.set_gauge("room_participants", 0, room=self.room_name)

    # -- room events (called by the SDK's event emitter: synchronous) ---------------------------

    def _on_participant_connected(self, participant: Any) -> None:
        state = self.participants.joined(
            participant.identity, participant.name, participant_kind_name(participant)
        )
        if state is None:
            return
        count = len(self.participants)
        self.metrics.set_gauge("room_participants", count, room=self.room_name)
        self.metrics.event(f"{participant.identity} joined {self.room_name}", kind="info")
        self._emit(ParticipantJoined(state.identity, state.name, state.kind, count))

    def _on_participant_disconnected(self, participant: Any) -> None:
        identity = participant.identity
        self._forget_microphone(identity)
        if self.participants.left(identity) is None:
            return
        count = len(self.participants)
        self.metrics.set_gauge("room_participants", count, room=self.room_name)
        self.metrics.event(f"{identity} left {self.room_name}", kind="info")
        self._emit(ParticipantLeft(identity, count))

    def _on_track_subscribed(self, audio: Any, publication: Any, participant: Any) -> None:
        if not is_microphone(publication) or is_agent(participant):
            return  # video, screen-share audio, or another agent (no agent-to-agent loops)
        identity = participant.identity
        if identity not in self.participants:
            self._on_participant_connected(participant)
        self._mics[identity] = (audio, publication.sid)
        person = self.participants.get(identity)
        if person is not None:
            person.microphone = True
        self._listen(identity, audio)

    def _on_track_unsubscribed(self, audio: Any, publication: Any, participant: Any) -> None:
        identity = participant.identity
        known = self._mics.get(identity)
        if known is not None and known[1] == publication.sid:
            self._forget_microphone(identity)

    def _on_active_speakers(self, speakers: list[Any]) -> None:
        identities = [s.identity for s in speakers if s.identity != self.identity]
        self._emit(SpeakingChanged(self.participants.set_speakers(identities)))

    def _on_data(self, packet: Any) -> None:
        sender = getattr(packet.participant, "identity", "") if packet.participant else ""
        self._emit(DataMessage(sender, packet.topic or "", len(packet.data)))

    def _on_connection(self, change: ConnectionChanged) -> None:
        if change.state == "connected" and self._last_connection == "reconnecting":
            self.metrics.increment("room_reconnects", room=self.room_name)
        if change.state != self._last_connection:
            self.metrics.event(f"room {change.describe()}", kind="info")
        self._last_connection = change.state
        self._emit(change)

    # -- listening -----------------------------------------------------------------------------

    def _listen(self, identity: str, audio: Any) -> None:
        if self.voices is None:
            return  # models still loading: enable_voice starts it
        started = self.voices.start(identity, audio)
        person = self.participants.get(identity)
        if person is not None:
            person.listening = started

    def _forget_microphone(self, identity: str) -> None:
        if self._mics.pop(identity, None) is None:
            return
        person = self.participants.get(identity)
        if person is not None:
            person.microphone = person.listening = False
        self.captions.forget(identity)
        if self.voices is not None and identity in self.voices:
            self._spawn(self.voices.stop(identity), f"room-voice-stop-{identity}")

    # -- pipeline events: transcripts, agent state, observers ---------------------------------

    def _emit(self, event: RoomEvent) -> None:
        if isinstance(event, ParticipantVoice):
            self._on_voice(event)
        for observer in self._observers:
            try:
                observer(event)
            except Exception:  # a broken renderer must not take the agent down
                _logger.exception("room observer failed")

    def _on_voice(self, wrapped: ParticipantVoice) -> None:
        identity, event = wrapped.identity, wrapped.event
        person = self.participants.get(identity)
        if isinstance(event, StateChanged):
            if person is not None:
                person.voice_state = event.state
            self._update_agent_state()
        elif isinstance(event, VoiceTurn) and person is not None:
            person.turns += 1
        self.captions.on_voice(
            identity,
            event,
            microphone_sid=self._mics.get(identity, ("", ""))[1],
            agent_sid=getattr(self.track.publication, "sid", "") or "",
        )

    def _update_agent_state(self) -> None:
        """Tell clients what the agent does (``lk.agent.state``), when it changes."""
        states = {p.voice_state for p in self.participants}
        if self.voices is None:
            state = "initializing"
        elif "speaking" in states:
            state = "speaking"
        elif "thinking" in states:
            state = "thinking"
        else:
            state = "listening"
        self.agent_state = state
        room = self._room
        if state == self._last_state or room is None or not self._attributes_allowed:
            return
        self._last_state = state
        self._spawn(self._set_state_attribute(room, state), "room-agent-state")

    async def _set_state_attribute(self, room: RoomLike, state: str) -> None:
        try:
            await room.local_participant.set_attributes({AGENT_STATE_ATTRIBUTE: state})
        except Exception as exc:  # a --token without canUpdateOwnMetadata: stop trying
            self._attributes_allowed = False
            _logger.info("cannot set %s: %s", AGENT_STATE_ATTRIBUTE, exc)

    def _spawn(self, coroutine: Any, name: str) -> None:
        task = asyncio.create_task(coroutine, name=name)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

"""A LiveKit room without a server: the same events as ``rtc.Room``, real audio objects.

No LiveKit server runs in our tests, so the room layer is tested against
:class:`FakeLiveKitRoom`. It is an ``rtc.EventEmitter`` that emits the events
``rtc.Room`` emits, with the same names and argument shapes
(``participant_connected(participant)``, ``track_subscribed(track,
publication, participant)``, ``active_speakers_changed(speakers)``,
``data_received(DataPacket)``, ``connection_state_changed(state)``,
``disconnected(reason)``, ``reconnecting()``, ``reconnected()`` ...), and uses
the SDK's own enums and dataclasses for their values.

The audio is real: a participant's microphone (:class:`FakeMicrophone`) is an
``rtc.AudioSource`` with an ``rtc.LocalAudioTrack``, which works offline, so the
agent reads it through a real ``rtc.AudioStream``; and the agent's published
track can be read back the same way (:meth:`FakeLiveKitRoom.agent_stream`).

:class:`FakeLiveKitServer` hands out rooms to a
:class:`~voice_agent_cli.rooms.connection.RoomConnection` and scripts the
outcome of each connection attempt (an ``rtc.ConnectError``, a hang, success).
"""

from __future__ import annotations

import asyncio
import itertools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from livekit import rtc

_sids = itertools.count(1)


def _sid(prefix: str) -> str:
    return f"{prefix}_{next(_sids):04d}"


@dataclass
class FakeTrackPublication:
    """A track publication (remote or local), with the fields the room layer reads."""

    sid: str
    kind: int
    source: int
    name: str = ""
    track: Any = None
    muted: bool = False
    subscribed: bool = False


@dataclass
class FakeParticipant:
    """A remote participant."""

    identity: str
    name: str = ""
    kind: int = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD
    sid: str = field(default_factory=lambda: _sid("PA"))
    attributes: dict[str, str] = field(default_factory=dict)
    metadata: str = ""
    track_publications: dict[str, FakeTrackPublication] = field(default_factory=dict)


class FakeMicrophone:
    """A participant's microphone: a real ``rtc.AudioSource`` and ``rtc.LocalAudioTrack``.

    :meth:`say` plays 16 kHz float audio into it at the pace of real time (the
    source's small queue makes ``capture_frame`` wait), as a person speaking.
    """

    def __init__(self, sample_rate: int = 16000) -> None:
        self.sample_rate = sample_rate
        self.source = rtc.AudioSource(sample_rate, 1, queue_size_ms=100)
        self.track = rtc.LocalAudioTrack.create_audio_track("microphone", self.source)

    async def say(self, samples: Any, *, frame_ms: int = 10) -> None:
        """Play ``samples`` (float32 mono at the microphone's rate), in real time."""
        size = self.sample_rate * frame_ms // 1000
        pcm = (np.clip(samples, -1.0, 1.0) * 32767).astype(np.int16)
        for offset in range(0, len(pcm), size):
            block = pcm[offset : offset + size]
            if len(block) < size:
                block = np.concatenate([block, np.zeros(size - len(block), np.int16)])
            await self.source.capture_frame(
                rtc.AudioFrame(block.tobytes(), self.sample_rate, 1, size)
            )

    async def pause(self, seconds: float) -> None:
        """Silence for ``seconds`` (a microphone keeps sending frames when nobody speaks)."""
        await self.say(np.zeros(int(seconds * self.sample_rate), np.float32))

    async def aclose(self) -> None:
        """Release the source."""
        await self.source.aclose()


class FakeTextWriter:
    """What ``LocalParticipant.stream_text`` returns: records what is written."""

    def __init__(self, topic: str, sender: str, attributes: dict[str, str]) -> None:
        self.topic = topic
        self.sender = sender
        self.attributes = dict(attributes)
        self.text = ""
        self.closed = False

    async def write(self, text: str) -> None:
        self.text += text

    async def aclose(self, *, attributes: dict[str, str] | None = None, **_: Any) -> None:
        if attributes:
            self.attributes.update(attributes)
        self.closed = True


class FakeLocalParticipant:
    """The agent's own participant: records what it publishes."""

    def __init__(self, room: FakeLiveKitRoom) -> None:
        self.room = room
        self.identity = ""
        self.name = ""
        self.sid = _sid("PA")
        self.kind = rtc.ParticipantKind.PARTICIPANT_KIND_AGENT
        self.attributes: dict[str, str] = {}
        self.track_publications: dict[str, FakeTrackPublication] = {}
        self.data: list[tuple[bytes, str]] = []
        self.transcriptions: list[rtc.Transcription] = []
        self.text_streams: list[FakeTextWriter] = []
        #: Make set_attributes fail (a token without canUpdateOwnMetadata).
        self.attributes_denied = False

    async def publish_track(self, track: Any, options: Any = None) -> FakeTrackPublication:
        publication = FakeTrackPublication(
            _sid("TR"),
            rtc.TrackKind.KIND_AUDIO,
            getattr(options, "source", rtc.TrackSource.SOURCE_MICROPHONE),
            getattr(track, "name", ""),
            track,
        )
        self.track_publications[publication.sid] = publication
        self.room.emit("local_track_published", publication, track)
        return publication

    async def unpublish_track(self, track_sid: str) -> None:
        publication = self.track_publications.pop(track_sid, None)
        if publication is not None:
            self.room.emit("local_track_unpublished", publication)

    async def publish_data(
        self,
        payload: bytes | str,
        *,
        reliable: bool = True,
        destination_identities: Sequence[str] = (),
        topic: str = "",
    ) -> None:
        data = payload.encode() if isinstance(payload, str) else payload
        self.data.append((data, topic))

    async def publish_transcription(self, transcription: rtc.Transcription) -> None:
        self.transcriptions.append(transcription)

    async def stream_text(
        self,
        *,
        topic: str = "",
        sender_identity: str | None = None,
        attributes: dict[str, str] | None = None,
        **_: Any,
    ) -> FakeTextWriter:
        writer = FakeTextWriter(topic, sender_identity or self.identity, attributes or {})
        self.text_streams.append(writer)
        return writer

    async def set_attributes(self, attributes: dict[str, str]) -> None:
        if self.attributes_denied:
            raise RuntimeError("does not have permission to update own metadata")
        self.attributes.update(attributes)

    def messages(self, topic: str) -> list[dict[str, Any]]:
        """The JSON messages published on ``topic``, in order."""
        return [json.loads(data) for data, sent_topic in self.data if sent_topic == topic]


class FakeLiveKitRoom(rtc.EventEmitter[Any]):
    """An ``rtc.Room`` stand-in: the same events, driven by the test."""

    def __init__(
        self,
        name: str = "demo",
        *,
        connect_error: BaseException | None = None,
        hang: bool = False,
        participants: Iterable[str] = (),
    ) -> None:
        super().__init__()
        self._name = name
        self.connect_error = connect_error
        self.hang = hang
        self.local_participant = FakeLocalParticipant(self)
        self.remote_participants: dict[str, FakeParticipant] = {}
        self.connection_state = rtc.ConnectionState.CONN_DISCONNECTED
        self.microphones: dict[str, FakeMicrophone] = {}
        self.url: str | None = None
        self.token: str | None = None
        self.options: Any = None
        self._initial = list(participants)

    @property
    def name(self) -> str:
        return self._name

    def isconnected(self) -> bool:
        return self.connection_state != rtc.ConnectionState.CONN_DISCONNECTED

    async def connect(self, url: str, token: str, options: Any = None) -> None:
        """Join, unless scripted to fail or hang; the identity comes from the token."""
        import jwt

        self.url, self.token, self.options = url, token, options
        if self.hang:
            await asyncio.Event().wait()
        if self.connect_error is not None:
            raise self.connect_error
        claims = jwt.decode(token, options={"verify_signature": False})
        self.local_participant.identity = claims.get("sub", "")
        self.local_participant.name = claims.get("name", "")
        self._name = (claims.get("video") or {}).get("room", self._name)
        for identity in self._initial:
            self.remote_participants[identity] = FakeParticipant(identity, identity)
        self.connection_state = rtc.ConnectionState.CONN_CONNECTED

    async def disconnect(self) -> None:
        """Leave: the SDK's own order of events."""
        if not self.isconnected():
            return
        self.connection_state = rtc.ConnectionState.CONN_DISCONNECTED
        self.emit("connection_state_changed", self.connection_state)
        self.emit("disconnected", rtc.DisconnectReason.CLIENT_INITIATED)
        await self._close_microphones()

    # -- driving the room from a test ---------------------------------------------------------

    def add_participant(
        self,
        identity: str,
        name: str = "",
        *,
        kind: int = rtc.ParticipantKind.PARTICIPANT_KIND_STANDARD,
    ) -> FakeParticipant:
        """Someone joins."""
        participant = FakeParticipant(identity, name or identity, kind)
        self.remote_participants[identity] = participant
        self.emit("participant_connected", participant)
        return participant

    def add_microphone(self, identity: str, *, sample_rate: int = 16000) -> FakeMicrophone:
        """``identity`` publishes a microphone, and the agent is subscribed to it."""
        participant = self.remote_participants[identity]
        microphone = FakeMicrophone(sample_rate)
        publication = FakeTrackPublication(
            _sid("TR"),
            rtc.TrackKind.KIND_AUDIO,
            rtc.TrackSource.SOURCE_MICROPHONE,
            "microphone",
            microphone.track,
            subscribed=True,
        )
        participant.track_publications[publication.sid] = publication
        self.microphones[identity] = microphone
        self.emit("track_published", publication, participant)
        self.emit("track_subscribed", microphone.track, publication, participant)
        return microphone

    def remove_microphone(self, identity: str) -> None:
        """``identity`` stops publishing its microphone."""
        participant = self.remote_participants[identity]
        for sid, publication in list(participant.track_publications.items()):
            if publication.source == rtc.TrackSource.SOURCE_MICROPHONE:
                del participant.track_publications[sid]
                self.emit("track_unsubscribed", publication.track, publication, participant)
                self.emit("track_unpublished", publication, participant)

    def remove_participant(
        self, identity: str, reason: int = rtc.DisconnectReason.CLIENT_INITIATED
    ) -> None:
        """``identity`` leaves (its tracks are unsubscribed first, as the SDK does)."""
        self.remove_microphone(identity)
        participant = self.remote_participants.pop(identity)
        self.emit("participant_disconnected", participant)

    def set_active_speakers(self, *identities: str) -> None:
        """The server's active speakers changed."""
        speakers = [
            self.remote_participants[i] for i in identities if i in self.remote_participants
        ]
        self.emit("active_speakers_changed", speakers)

    def send_data(self, identity: str, payload: bytes, topic: str = "") -> None:
        """``identity`` sends a data packet."""
        packet = rtc.DataPacket(
            data=payload,
            kind=rtc.DataPacketKind.KIND_RELIABLE,
            participant=self.remote_participants.get(identity),  # type: ignore[arg-type]
            topic=topic,
        )
        self.emit("data_received", packet)

    def interrupt(self) -> None:
        """A short outage that the SDK resumes by itself."""
        self.connection_state = rtc.ConnectionState.CONN_RECONNECTING
        self.emit("connection_state_changed", self.connection_state)
        self.emit("reconnecting")
        self.connection_state = rtc.ConnectionState.CONN_CONNECTED
        self.emit("connection_state_changed", self.connection_state)
        self.emit("reconnected")

    def drop(self, reason: int = rtc.DisconnectReason.SIGNAL_CLOSE) -> None:
        """The connection is lost for good (the SDK gave up)."""
        self.connection_state = rtc.ConnectionState.CONN_DISCONNECTED
        self.emit("connection_state_changed", self.connection_state)
        self.emit("disconnected", reason)

    def agent_publication(self) -> FakeTrackPublication | None:
        """The agent's published audio track, if any."""
        return next(iter(self.local_participant.track_publications.values()), None)

    def agent_stream(self, sample_rate: int = 16000) -> rtc.AudioStream:
        """An ``rtc.AudioStream`` over the agent's published track (what a listener hears)."""
        publication = self.agent_publication()
        if publication is None:
            raise AssertionError("the agent has not published a track")
        return rtc.AudioStream.from_track(
            track=publication.track, sample_rate=sample_rate, num_channels=1, frame_size_ms=10
        )

    async def _close_microphones(self) -> None:
        for microphone in self.microphones.values():
            await microphone.aclose()
        self.microphones.clear()


class FakeLiveKitServer:
    """Hands out fake rooms, one per connection attempt, each with a scripted outcome.

    ``outcomes`` are used in order, then every later attempt succeeds: ``None``
    is success, an exception is raised by ``connect``, ``"hang"`` never answers.
    """

    def __init__(
        self,
        outcomes: Iterable[BaseException | str | None] = (),
        *,
        room: str = "demo",
        participants: Iterable[str] = (),
    ) -> None:
        self.outcomes = list(outcomes)
        self.room_name = room
        #: Identities already in the room when the agent joins (without microphones).
        self.participants = list(participants)
        self.rooms: list[FakeLiveKitRoom] = []

    def room_factory(self) -> FakeLiveKitRoom:
        """A new room for the next attempt (pass this to RoomConnection)."""
        outcome = self.outcomes.pop(0) if self.outcomes else None
        room = FakeLiveKitRoom(
            self.room_name,
            connect_error=outcome if isinstance(outcome, BaseException) else None,
            hang=outcome == "hang",
            participants=self.participants,
        )
        self.rooms.append(room)
        return room

    @property
    def current(self) -> FakeLiveKitRoom:
        """The room of the last attempt."""
        return self.rooms[-1]


def connect_error(message: str) -> rtc.ConnectError:
    """The SDK's connection error, as the native side words it."""
    return rtc.ConnectError(f"engine: signal failure: {message}")

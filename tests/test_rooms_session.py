"""The agent in a room: participants, microphones, speakers, data and reconnection.

Room events come from the fake room (the same events and argument shapes as
rtc.Room); the audio objects are the SDK's real ones. The pipelines here use a
VAD that hears nothing, so no model loads: tests/test_rooms_voice.py speaks.
"""

from __future__ import annotations

import asyncio

from livekit import rtc

from tests.rooms_helpers import Clock, enable_deaf_voice, make_room_agent, until
from voice_agent_cli.contracts.events import Notice
from voice_agent_cli.observe import metrics
from voice_agent_cli.rooms.backoff import ReconnectPolicy
from voice_agent_cli.rooms.events import (
    ConnectionChanged,
    DataMessage,
    ParticipantJoined,
    ParticipantLeft,
    SpeakingChanged,
)
from voice_agent_cli.rooms.policy import AnswerPolicy
from voice_agent_cli.testing.fake_livekit import FakeLiveKitRoom, FakeLiveKitServer, connect_error


async def test_joining_publishes_the_agent_track_and_announces_who_is_there() -> None:
    server = FakeLiveKitServer(participants=["alice", "bob"])
    room_agent, recorder = make_room_agent(server)
    await room_agent.join()
    room = server.current
    publication = room.agent_publication()
    assert publication is not None and publication.source == rtc.TrackSource.SOURCE_MICROPHONE
    assert [e.identity for e in recorder.of(ParticipantJoined)] == ["alice", "bob"]
    await until(lambda: room.local_participant.attributes.get("lk.agent.state"))
    assert room.local_participant.attributes["lk.agent.state"] == "initializing"
    enable_deaf_voice(room_agent)
    await until(lambda: room.local_participant.attributes["lk.agent.state"] == "listening")
    await room_agent.aclose()
    assert room.local_participant.track_publications == {}
    assert not room.isconnected()


async def test_twelve_participants_come_and_go_each_with_a_pipeline() -> None:
    server = FakeLiveKitServer()
    registry = metrics.Metrics()
    room_agent, recorder = make_room_agent(server, metrics=registry)
    await room_agent.join()
    enable_deaf_voice(room_agent, max_pipelines=16)
    room = server.current
    people = [f"person-{n:02d}" for n in range(12)]
    for identity in people:
        room.add_participant(identity, identity.title())
        room.add_microphone(identity)
    # Another agent in the room is tracked, never transcribed (no agent-to-agent loops).
    room.add_participant("other-bot", kind=rtc.ParticipantKind.PARTICIPANT_KIND_AGENT)
    room.add_microphone("other-bot")

    voices = room_agent.voices
    assert voices is not None
    assert sorted(voices.identities) == people
    assert len(room_agent.participants) == 13
    joined = recorder.of(ParticipantJoined)
    assert [e.count for e in joined] == list(range(1, 14))
    assert joined[-1].kind == "agent"
    alice = room_agent.participants.get("person-00")
    assert alice is not None and alice.microphone and alice.listening
    assert registry.as_json()["gauges"]  # room_participants is reported

    for identity in people[:5]:
        room.remove_participant(identity)
    await until(lambda: len(voices.identities) == 7)
    assert [e.identity for e in recorder.of(ParticipantLeft)] == people[:5]
    assert recorder.of(ParticipantLeft)[-1].count == 8
    # A microphone turned off stops the pipeline, the participant stays.
    room.remove_microphone("person-11")
    await until(lambda: "person-11" not in voices)
    assert "person-11" in room_agent.participants
    await room_agent.aclose()
    assert voices.identities == []
    leftovers = [t for t in asyncio.all_tasks() if t.get_name().startswith("room-")]
    assert leftovers == []


async def test_the_pipeline_limit_is_announced() -> None:
    server = FakeLiveKitServer()
    room_agent, recorder = make_room_agent(server)
    await room_agent.join()
    enable_deaf_voice(room_agent, max_pipelines=2)
    for identity in ("a", "b", "c"):
        server.current.add_participant(identity)
        server.current.add_microphone(identity)
    assert room_agent.voices is not None and room_agent.voices.identities == ["a", "b"]
    [notice] = recorder.of(Notice)
    assert "not transcribing c" in notice.message and notice.level == "warning"
    await room_agent.aclose()


async def test_a_named_participant_policy_listens_to_that_participant_only() -> None:
    server = FakeLiveKitServer()
    room_agent, _ = make_room_agent(server)
    await room_agent.join()
    enable_deaf_voice(room_agent, policy=AnswerPolicy("participant", participant="bob"))
    for identity in ("alice", "bob", "carol"):
        server.current.add_participant(identity)
        server.current.add_microphone(identity)
    assert room_agent.voices is not None and room_agent.voices.identities == ["bob"]
    carol = room_agent.participants.get("carol")
    assert carol is not None and carol.microphone and not carol.listening
    await room_agent.aclose()


async def test_microphones_subscribed_before_the_models_loaded_are_listened_to() -> None:
    server = FakeLiveKitServer()
    room_agent, _ = make_room_agent(server)
    await room_agent.join()
    server.current.add_participant("alice")
    server.current.add_microphone("alice")
    assert room_agent.voices is None
    enable_deaf_voice(room_agent)
    assert room_agent.voices is not None and room_agent.voices.identities == ["alice"]
    await room_agent.aclose()


async def test_active_speakers_and_data_messages_are_reported() -> None:
    server = FakeLiveKitServer()
    room_agent, recorder = make_room_agent(server)
    await room_agent.join()
    room = server.current
    for identity in ("alice", "bob"):
        room.add_participant(identity)
    room.set_active_speakers("bob")
    room.set_active_speakers("alice", "bob")
    room.set_active_speakers()
    assert [e.speakers for e in recorder.of(SpeakingChanged)] == [
        ("bob",),
        ("alice", "bob"),
        (),
    ]
    room.set_active_speakers("bob")
    bob = room_agent.participants.get("bob")
    assert bob is not None and bob.speaking
    room.send_data("alice", b'{"hello": 1}', topic="lk.chat")
    assert recorder.of(DataMessage) == [DataMessage("alice", "lk.chat", 12)]
    await room_agent.aclose()


async def test_after_a_drop_the_agent_rejoins_and_listens_again() -> None:
    server = FakeLiveKitServer([None, connect_error("transport connection error: refused")])
    clock = Clock()
    registry = metrics.Metrics()
    room_agent, recorder = make_room_agent(
        server, policy=ReconnectPolicy(base_s=1.0, max_attempts=5), clock=clock, metrics=registry
    )
    await room_agent.join()
    enable_deaf_voice(room_agent)
    first = server.current
    first.add_participant("alice")
    first.add_microphone("alice")
    stop = asyncio.Event()
    running = asyncio.create_task(room_agent.run(stop))

    first.drop()
    await until(lambda: len(server.rooms) == 3 and room_agent.connection.state == "connected")
    second = server.current
    assert second.agent_publication() is not None  # the track is published again
    assert room_agent.voices is not None and room_agent.voices.identities == []
    second.add_participant("alice")
    second.add_microphone("alice")
    assert room_agent.voices.identities == ["alice"]

    states = [e.state for e in recorder.of(ConnectionChanged)]
    assert states == [
        "connecting",
        "connected",
        "disconnected",
        "reconnecting",
        "reconnecting",
        "connected",
    ]
    assert clock.delays == [0.75, 1.5]
    assert registry.counter("room_reconnects", room="demo") == 1

    stop.set()
    await asyncio.wait_for(running, 5)
    await room_agent.aclose()
    assert not second.isconnected()


async def test_a_token_that_may_not_set_attributes_is_no_problem() -> None:
    server = FakeLiveKitServer()
    original = server.room_factory

    def denying() -> FakeLiveKitRoom:
        room = original()
        room.local_participant.attributes_denied = True
        return room

    server.room_factory = denying  # type: ignore[method-assign]
    room_agent, _ = make_room_agent(server)
    await room_agent.join()
    enable_deaf_voice(room_agent)
    server.current.add_participant("alice")
    server.current.add_microphone("alice")
    await asyncio.sleep(0.05)
    assert server.current.local_participant.attributes == {}
    assert room_agent.voices is not None and room_agent.voices.identities == ["alice"]
    assert room_agent.agent_state == "listening"
    await room_agent.aclose()

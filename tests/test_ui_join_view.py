"""What ``va join`` shows: the live view, plain lines, and JSON lines."""

from __future__ import annotations

import io
import json

from rich.console import Console

from voice_agent_cli.contracts.events import Notice
from voice_agent_cli.observe.metrics import Metrics
from voice_agent_cli.rooms.events import (
    ConnectionChanged,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantVoice,
    SpeakingChanged,
)
from voice_agent_cli.rooms.participants import RoomParticipants
from voice_agent_cli.speech.events import AgentText, BargeIn, UserTranscript, VoiceTurn
from voice_agent_cli.ui.join_view import JoinView

TURN = VoiceTurn(
    index=1,
    user="What time is it?",
    reply="It's noon.",
    interrupted=False,
    timings={"e2e_latency": 612.0, "end_of_turn_delay": 410.0, "llm_ttft": 80.0},
    source="prebuffered",
)


def people() -> RoomParticipants:
    registry = RoomParticipants()
    registry.joined("alice", "Alice")
    registry.joined("bob", "Bob")
    registry.joined("other-bot", kind="agent")
    alice = registry.get("alice")
    assert alice is not None
    alice.microphone = alice.listening = True
    alice.voice_state = "speaking"
    alice.turns = 2
    registry.set_speakers(["bob"])
    return registry


def metrics_with_figures() -> Metrics:
    registry = Metrics()
    for value in (500, 600, 700):
        registry.observe("e2e_latency", value)
    registry.circuit("llm:gemini", "open", "5 failures")
    registry.increment("cache_lookups", layer="prebuffered")
    return registry


def test_the_live_view_shows_people_transcript_latency_cache_and_circuits() -> None:
    view = JoinView(
        io.StringIO(),
        Console(file=io.StringIO()),
        room="demo",
        agent="va-agent",
        metrics=metrics_with_figures(),
        participants=people(),
        policy="answering everyone",
    )
    view.show(ConnectionChanged("connected", "demo"))
    view.show(ParticipantVoice("alice", UserTranscript("What time is it?")))
    view.show(ParticipantVoice("alice", TURN))
    out = io.StringIO()
    Console(file=out, width=120, color_system=None).print(view.render())
    text = out.getvalue()
    for expected in (
        "room demo",
        "connected",
        "agent speaking",
        "answering everyone",
        "alice",
        "bob ◂ speaking",
        "(agent)",
        "alice: What time is it?",
        "va-agent → alice: It's noon.",
        "e2e_latency",
        "buffer hit rate",
        "llm:gemini",
        "open",
    ):
        assert expected in text, expected


def test_plain_lines_when_not_a_terminal() -> None:
    out, err_file = io.StringIO(), io.StringIO()
    view = JoinView(
        out,
        Console(file=err_file, width=200),
        room="demo",
        agent="va",
        metrics=Metrics(),
        participants=RoomParticipants(),
    )
    with view:
        view.show(ConnectionChanged("connecting", "demo"))  # before joining: not shown
        view.joined(connect_ms=312.4, people=["alice"])
        view.show(ParticipantJoined("bob", "Bob", "standard", 2))
        view.show(ParticipantVoice("bob", UserTranscript("Hello [there]")))
        view.show(ParticipantVoice("bob", AgentText("Hi")))
        view.show(ParticipantVoice("bob", TURN))
        view.show(ParticipantVoice("bob", BargeIn(1.2)))
        view.show(ConnectionChanged("reconnecting", "demo", attempt=1, delay_s=0.5, reason="lost"))
        view.show(ParticipantLeft("bob", 1))
        view.show(Notice("not transcribing c", "warning"))
    assert out.getvalue().splitlines() == ["bob: Hello [there]", "va → bob: It's noon."]
    err = err_file.getvalue()
    assert "room connecting" not in err
    assert "joined room 'demo' as va in 312 ms; in the room: alice" in err
    assert "bob joined (2 in the room)" in err and "bob left (1 in the room)" in err
    assert "e2e 612 ms" in err and "spoke over the agent" in err
    assert "room reconnecting (room 'demo'), attempt 1 in 0.5 s: lost" in err
    assert "va: not transcribing c" in err


def test_json_lines_are_one_object_per_event() -> None:
    out, err_file = io.StringIO(), io.StringIO()
    view = JoinView(
        out,
        Console(file=err_file),
        room="demo",
        agent="va",
        metrics=Metrics(),
        json_output=True,
    )
    view.joined(connect_ms=100.0, people=[])
    view.show(ParticipantJoined("bob", "Bob", "standard", 1))
    view.show(SpeakingChanged(("bob",)))
    view.show(ParticipantVoice("bob", AgentText("partial")))  # not a line of its own
    view.show(ParticipantVoice("bob", UserTranscript("What time is it?")))
    view.show(ParticipantVoice("bob", TURN))
    lines = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [line["event"] for line in lines] == [
        "joined",
        "participant_joined",
        "speaking",
        "transcript",
        "turn",
    ]
    assert lines[-1]["speaker"] == "bob" and lines[-1]["reply"] == "It's noon."
    assert lines[-1]["timings"]["e2e_latency"] == 612.0
    assert err_file.getvalue() == ""

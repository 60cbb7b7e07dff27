"""Whom the agent answers, and the transcript messages it sends into the room."""

from __future__ import annotations

import asyncio

import pytest

from voice_agent_cli.rooms.policy import AnswerPolicy
from voice_agent_cli.rooms.transcripts import TranscriptLine, TranscriptPublisher
from voice_agent_cli.testing.fake_livekit import FakeLiveKitRoom


def test_everyone_is_answered_by_default() -> None:
    policy = AnswerPolicy()
    decision = policy.decide("alice", " What time is it? ")
    assert decision.answer and decision.text == "What time is it?"
    assert policy.listens_to("anyone") and policy.describe() == "answering everyone"


def test_a_named_participant_only() -> None:
    policy = AnswerPolicy("participant", participant="bob")
    assert policy.listens_to("bob") and not policy.listens_to("alice")
    assert policy.decide("bob", "Hi").answer
    refused = policy.decide("alice", "Hi")
    assert not refused.answer and refused.reason == "only bob is answered"
    with pytest.raises(ValueError, match="needs a participant"):
        AnswerPolicy("participant")


@pytest.mark.parametrize(
    ("said", "asked"),
    [
        ("Hey va, what time is it?", "What time is it?"),
        ("Hey, Vah. What time is it?", "What time is it?"),
        ("va what time is it", "What time is it"),
        ("Okay Nova, tell me a joke.", "Tell me a joke."),
        ("What is the capital of France, Nova?", "What is the capital of France"),
        ("Hey V A, are you there?", "Are you there?"),
        ("Can nova hear me?", "Can nova hear me?"),
    ],
)
def test_addressed_utterances_are_answered_without_the_address(said: str, asked: str) -> None:
    policy = AnswerPolicy("addressed", names=["va", "vah", "v a", "nova"])
    decision = policy.decide("alice", said)
    assert decision.answer and decision.text == asked


@pytest.mark.parametrize(
    "said", ["What time is it?", "Let's ask Eva about it.", "I was in Java", "Nova Scotia"]
)
def test_other_talk_is_left_alone(said: str) -> None:
    policy = AnswerPolicy("addressed", names=["va"])
    decision = policy.decide("alice", said)
    assert not decision.answer and decision.reason == "not addressed to the agent"


async def test_transcript_lines_go_out_in_order_in_every_form() -> None:
    room = FakeLiveKitRoom()
    room.connection_state = 1  # connected
    publisher = TranscriptPublisher(topic="va.transcript")
    publisher.attach(room)
    publisher.publish(
        TranscriptLine("user", "alice", "alice", "Hi", True, "SG_1", track_sid="TR_a")
    )
    publisher.publish(TranscriptLine("agent", "va", "alice", "Hello!", False, "SG_2"))
    await publisher.aclose()
    messages = room.local_participant.messages("va.transcript")
    assert [(m["role"], m["text"], m["final"]) for m in messages] == [
        ("user", "Hi", True),
        ("agent", "Hello!", False),
    ]
    assert set(messages[0]) == {
        "type",
        "version",
        "role",
        "speaker",
        "participant",
        "text",
        "final",
        "interrupted",
        "segment_id",
        "timestamp",
    }
    # A LiveKit transcription needs the speaker's track: only the user line had one.
    [transcription] = room.local_participant.transcriptions
    assert (transcription.participant_identity, transcription.track_sid) == ("alice", "TR_a")
    streams = room.local_participant.text_streams
    assert [(s.sender, s.text, s.attributes["lk.transcription_final"]) for s in streams] == [
        ("alice", "Hi", "true"),
        ("va", "Hello!", "false"),
    ]
    assert streams[0].attributes["lk.transcribed_track_id"] == "TR_a" and streams[0].closed


async def test_a_failed_send_is_counted_and_the_rest_still_go_out() -> None:
    room = FakeLiveKitRoom()
    room.connection_state = 1
    sent: list[bytes] = []

    async def flaky(payload: bytes | str, **_: object) -> None:
        if not sent:
            sent.append(b"")
            raise RuntimeError("data channel not ready")
        sent.append(payload if isinstance(payload, bytes) else payload.encode())

    room.local_participant.publish_data = flaky  # type: ignore[method-assign]
    publisher = TranscriptPublisher(transcription_events=False)
    publisher.attach(room)
    for text in ("one", "two"):
        publisher.publish(TranscriptLine("user", "a", "a", text, True, "SG"))
    await publisher.flush()
    assert (publisher.failed, publisher.sent) == (1, 1) and b"two" in sent[-1]
    publisher.attach(None)  # the room is gone: lines are dropped, not queued forever
    publisher.publish(TranscriptLine("user", "a", "a", "three", True, "SG"))
    await asyncio.wait_for(publisher.aclose(), 3)

"""Participants speak, the agent answers on its track: the whole path through a fake room.

A participant's question (piper speech) goes into its microphone, a real
rtc.AudioSource; the agent reads it through a real rtc.AudioStream, and it goes
VAD (Silero) -> STT (faster-whisper tiny.en) -> agent (the scripted FakeLLM) ->
TTS (piper) -> the agent's published track, which the test hears through
another rtc.AudioStream. Everything runs in real time.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest

from tests.rooms_helpers import Listener, Recorder, Talker, make_room_agent, until
from tests.speech_fixtures import silence, timeline, words
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.observe import metrics
from voice_agent_cli.rooms.events import ParticipantVoice
from voice_agent_cli.rooms.policy import AnswerPolicy
from voice_agent_cli.rooms.session import RoomAgent
from voice_agent_cli.speech.events import BargeIn, UserTranscript, VoiceTurn
from voice_agent_cli.speech.pipeline import VoiceOptions
from voice_agent_cli.speech.stt import FasterWhisperSTT
from voice_agent_cli.speech.tts import PiperTTS
from voice_agent_cli.testing.fake_livekit import FakeLiveKitRoom, FakeLiveKitServer
from voice_agent_cli.testing.fake_llm import FakeLLM

pytestmark = pytest.mark.slow

Say = Callable[[str], np.ndarray]

LONG_REPLY = (
    "Paris is the capital of France. It sits on the river Seine in the north of the country. "
    "About two million people live in the city itself. Many more live in the suburbs around it. "
    "It is famous for its museums, its cafes and the Eiffel Tower."
)


@dataclass
class VoiceRoom:
    room_agent: RoomAgent
    recorder: Recorder
    room: FakeLiveKitRoom
    llm: FakeLLM
    listener: Listener
    talkers: dict[str, Talker]

    def join(self, identity: str) -> Talker:
        self.room.add_participant(identity)
        talker = Talker(self.room.add_microphone(identity))
        self.talkers[identity] = talker
        return talker

    def voice(self, kind: type, identity: str | None = None) -> list:  # type: ignore[type-arg]
        return [
            e.event
            for e in self.recorder.of(ParticipantVoice)
            if isinstance(e.event, kind) and identity in (None, e.identity)
        ]

    def turns(self, identity: str | None = None) -> list[VoiceTurn]:
        return self.voice(VoiceTurn, identity)


async def open_voice_room(
    llm: FakeLLM,
    policy: AnswerPolicy | None = None,
    barge_in: str = "anyone",
    registry: metrics.Metrics | None = None,
) -> VoiceRoom:
    server = FakeLiveKitServer()
    room_agent, recorder = make_room_agent(server, metrics=registry)
    await room_agent.join()
    agent = Agent(llm, AgentOptions(system_prompt="You are a test."))
    room_agent.enable_voice(
        agent,
        stt=FasterWhisperSTT(),
        tts=PiperTTS(),
        options=VoiceOptions(),
        policy=policy or AnswerPolicy(),
        barge_in=barge_in,  # type: ignore[arg-type]
    )
    room = server.current
    publication = room.agent_publication()
    assert publication is not None
    return VoiceRoom(room_agent, recorder, room, llm, Listener(publication.track), {})


@pytest.fixture
def registry() -> metrics.Metrics:
    return metrics.Metrics()


async def close(voice_room: VoiceRoom) -> None:
    for talker in voice_room.talkers.values():
        await talker.aclose()
    await voice_room.listener.aclose()
    await voice_room.room_agent.aclose()


async def test_a_question_is_answered_on_the_agent_track(
    say: Say, whisper_loaded: None, voice_loaded: None, registry: metrics.Metrics
) -> None:
    vr = await open_voice_room(FakeLLM(["Paris is the capital of France."]), registry=registry)
    alice = vr.join("alice")
    question = "What is the capital of France?"
    spoken_end = await alice.say(timeline(silence(0.2), say(question)))
    await until(lambda: vr.turns("alice"), within=20)
    messages = vr.room.local_participant.messages
    await until(lambda: messages("va.transcript")[-1]["final"], within=5)  # the reply's last
    [turn] = vr.turns("alice")

    assert words(turn.user) == words(question)
    assert turn.reply == "Paris is the capital of France." and not turn.interrupted
    # The speaker's identity is on the user turn the LLM sees.
    last = vr.llm.requests[0].messages[-1]
    assert (last.role, last.speaker) == ("user", "alice")
    # The answer was heard on the agent's track, after the question ended.
    loud = vr.listener.loud_times()
    assert loud and loud[0] > spoken_end
    heard_e2e_ms = (loud[0] - spoken_end) * 1000
    assert 1.0 < loud[-1] - loud[0] < 4.0  # about two seconds of speech
    for stage in ("end_of_turn_delay", "transcription_delay", "llm_ttft", "tts_ttfb"):
        assert turn.timings[stage] >= 0
    assert turn.timings["e2e_latency"] <= heard_e2e_ms + 300
    assert registry.stage("e2e_latency") is not None

    # Both sides on the data channel, in order, in the documented format.
    messages = vr.room.local_participant.messages("va.transcript")
    user, *partial, final = messages
    assert (user["role"], user["speaker"], user["final"]) == ("user", "alice", True)
    assert words(user["text"]) == words(question)
    assert [m["role"] for m in (*partial, final)] == ["agent"] * (len(messages) - 1)
    assert final == {
        **final,
        "type": "transcript",
        "version": 1,
        "speaker": "va-agent",
        "participant": "alice",
        "text": "Paris is the capital of France.",
        "final": True,
        "interrupted": False,
    }
    assert all(m["segment_id"] == final["segment_id"] for m in partial)
    # And as LiveKit transcriptions, attached to each speaker's track.
    mic_sid = next(iter(vr.room.remote_participants["alice"].track_publications))
    agent_publication = vr.room.agent_publication()
    assert agent_publication is not None
    sent = vr.room.local_participant.transcriptions
    assert (sent[0].participant_identity, sent[0].track_sid) == ("alice", mic_sid)
    assert (sent[-1].participant_identity, sent[-1].track_sid) == (
        "va-agent",
        agent_publication.sid,
    )
    assert sent[-1].segments[0].final and sent[-1].segments[0].text == turn.reply
    streams = vr.room.local_participant.text_streams
    assert [s.sender for s in (streams[0], streams[-1])] == ["alice", "va-agent"]
    assert {s.topic for s in streams} == {"lk.transcription"}
    await close(vr)
    print(f"\nheard e2e latency through the fake room: {heard_e2e_ms:.0f} ms; {turn.timings}")


async def test_two_participants_share_one_conversation(
    say: Say, whisper_loaded: None, voice_loaded: None
) -> None:
    vr = await open_voice_room(FakeLLM(["Paris is the capital of France.", "About two million."]))
    alice, bob = vr.join("alice"), vr.join("bob")
    await alice.say(timeline(silence(0.2), say("What is the capital of France?")))
    await until(lambda: vr.turns("alice"), within=20)
    await bob.say(timeline(silence(0.2), say("How many people live there?")))
    await until(lambda: vr.turns("bob"), within=20)

    second = vr.llm.requests[1].messages
    users = [(m.speaker, words(m.content)) for m in second if m.role == "user"]
    assert users == [
        ("alice", "what is the capital of france"),
        ("bob", "how many people live there"),
    ]
    assert [m.content for m in second if m.role == "assistant"] == [
        "Paris is the capital of France."
    ]
    assert vr.turns("bob")[0].reply == "About two million."
    person = vr.room_agent.participants.get("bob")
    assert person is not None and person.turns == 1
    await close(vr)


async def test_another_participant_speaking_cuts_the_reply(
    say: Say, whisper_loaded: None, voice_loaded: None
) -> None:
    vr = await open_voice_room(FakeLLM([LONG_REPLY, "Sure."], chunk_delay_s=0.01))
    alice, bob = vr.join("alice"), vr.join("bob")
    await alice.say(timeline(silence(0.2), say("Tell me about Paris.")))
    await until(lambda: vr.listener.loud_times(), within=20)
    await asyncio.sleep(1.5)  # the agent is well into its reply
    bob_started = asyncio.get_running_loop().time()
    interrupt = bob.start_saying(say("Wait, I have a question."))
    await until(lambda: vr.voice(BargeIn, "alice"), within=10)
    await until(lambda: vr.turns("alice"), within=10)
    await interrupt
    [turn] = vr.turns("alice")

    assert turn.interrupted and turn.reply and turn.reply != LONG_REPLY
    assert LONG_REPLY.startswith(turn.reply.split(".")[0])
    cut_at = max(vr.listener.loud_times(), default=0.0)
    # The agent's voice stopped soon after bob started (VAD start + one frame of queue).
    assert cut_at - bob_started < 1.0
    final = [m for m in vr.room.local_participant.messages("va.transcript") if m["final"]]
    assert final[-1]["role"] == "agent" and final[-1]["interrupted"] is True
    # History: alice's interrupted reply, kept as heard.
    history = vr.room_agent.voices.conversation.messages  # type: ignore[union-attr]
    assert history[1].interrupted and history[1].content == turn.reply
    await until(lambda: vr.voice(UserTranscript, "bob"), within=20)
    await close(vr)


async def test_only_addressed_utterances_are_answered(
    say: Say, whisper_loaded: None, voice_loaded: None
) -> None:
    llm = FakeLLM(["Four."])
    vr = await open_voice_room(llm, AnswerPolicy("addressed", names=["nova"]))
    alice = vr.join("alice")
    await alice.say(timeline(silence(0.2), say("I think we should start the meeting.")))
    await until(lambda: vr.voice(UserTranscript, "alice"), within=20)
    await asyncio.sleep(0.5)
    assert llm.requests == [] and vr.turns() == []
    # Not answered, but transcribed for everyone.
    [line] = vr.room.local_participant.messages("va.transcript")
    assert line["role"] == "user" and "meeting" in line["text"]

    await alice.say(timeline(silence(0.2), say("Hey Nova, what is two plus two?")))
    await until(lambda: vr.turns("alice"), within=20)
    asked = llm.requests[0].messages[-1]
    assert re.fullmatch(r"What is (2|two) plus (2|two)\?", asked.content), asked.content
    assert asked.speaker == "alice" and vr.turns("alice")[0].reply == "Four."
    await close(vr)

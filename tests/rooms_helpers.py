"""Helpers for the room tests: a RoomAgent on a fake LiveKit server, and stand-in engines."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from livekit import rtc

from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.observe.metrics import Metrics
from voice_agent_cli.rooms.audio_out import AgentTrack
from voice_agent_cli.rooms.backoff import ReconnectPolicy
from voice_agent_cli.rooms.connection import RoomConnection
from voice_agent_cli.rooms.events import RoomEvent
from voice_agent_cli.rooms.policy import AnswerPolicy
from voice_agent_cli.rooms.session import RoomAgent
from voice_agent_cli.rooms.tokens import mint_token
from voice_agent_cli.rooms.transcripts import TranscriptPublisher
from voice_agent_cli.speech.endpointing import Endpointer, EndpointingOptions
from voice_agent_cli.speech.pipeline import VoiceOptions
from voice_agent_cli.speech.stt import Transcript
from voice_agent_cli.speech.tts import Speech
from voice_agent_cli.testing.fake_livekit import FakeLiveKitServer, FakeMicrophone
from voice_agent_cli.testing.fake_llm import FakeLLM


class DeafVAD:
    """A VAD that never hears speech (pipelines that load no model)."""

    def push(self, samples: Any) -> list[tuple[Any, float]]:
        return []

    def reset(self) -> None: ...


def deaf_endpointer() -> Endpointer:
    return Endpointer(EndpointingOptions(), vad=DeafVAD())  # type: ignore[arg-type]


class NoSTT:
    name = "none"

    async def start(self) -> None: ...

    async def transcribe(self, audio: Any) -> Transcript:
        return Transcript("", 0.0)

    async def aclose(self) -> None: ...


class SilentTTS:
    name = "silent"
    sample_rate = 16000

    async def start(self) -> None: ...

    async def synthesize(self, text: str) -> Speech:
        return Speech(np.zeros(1600, np.float32), 16000, 0.0)

    async def aclose(self) -> None: ...


@dataclass
class Recorder:
    """Every room event, in order."""

    events: list[RoomEvent] = field(default_factory=list)

    def __call__(self, event: RoomEvent) -> None:
        self.events.append(event)

    def of(self, kind: type) -> list[Any]:
        return [e for e in self.events if isinstance(e, kind)]


class Clock:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def sleep(self, seconds: float) -> None:
        self.delays.append(seconds)
        await asyncio.sleep(0)


def make_room_agent(
    server: FakeLiveKitServer,
    *,
    identity: str = "va-agent",
    policy: ReconnectPolicy | None = None,
    clock: Clock | None = None,
    metrics: Metrics | None = None,
) -> tuple[RoomAgent, Recorder]:
    def tokens() -> str:
        return mint_token("key", "s" * 32, room="demo", identity=identity, ttl_s=60, agent=True)

    connection = RoomConnection(
        "ws://livekit.test:7880",
        "demo",
        tokens,
        room_factory=server.room_factory,
        options_factory=lambda: None,
        policy=policy,
        sleep=(clock or Clock()).sleep,
        rand=lambda: 0.5,
    )
    recorder = Recorder()
    room_agent = RoomAgent(
        connection,
        identity=identity,
        observer=recorder,
        metrics=metrics,
        track=AgentTrack(48000),
        transcripts=TranscriptPublisher(topic="va.transcript"),
    )
    return room_agent, recorder


def enable_deaf_voice(
    room_agent: RoomAgent, *, policy: AnswerPolicy | None = None, max_pipelines: int = 16
) -> Agent:
    agent = Agent(FakeLLM(), AgentOptions(system_prompt="test"))
    room_agent.enable_voice(
        agent,
        stt=NoSTT(),
        tts=SilentTTS(),
        options=VoiceOptions(),
        policy=policy or AnswerPolicy(),
        max_pipelines=max_pipelines,
        endpointer_factory=deaf_endpointer,
    )
    return agent


async def until(predicate: Callable[[], object], within: float = 10.0) -> None:
    """Wait (polling) until ``predicate()`` is true."""
    deadline = time.monotonic() + within
    while not predicate():
        assert time.monotonic() < deadline, "condition not reached in time"
        await asyncio.sleep(0.01)


class Listener:
    """Reads a track through an rtc.AudioStream at 16 kHz: what a participant hears."""

    def __init__(self, track: object) -> None:
        self.stream = rtc.AudioStream.from_track(
            track=track, sample_rate=16000, num_channels=1, frame_size_ms=10
        )
        self.frames: list[tuple[float, np.ndarray]] = []
        self.task = asyncio.create_task(self._read())

    async def _read(self) -> None:
        async for event in self.stream:
            pcm = np.frombuffer(event.frame.data, dtype=np.int16).astype(np.float32) / 32768
            self.frames.append((time.perf_counter(), pcm))

    def audio(self) -> np.ndarray:
        return np.concatenate([pcm for _, pcm in self.frames]) if self.frames else np.zeros(0)

    def loud_times(self, level: float = 0.02) -> list[float]:
        """Wall-clock times of the frames that carry sound."""
        return [at for at, pcm in self.frames if np.abs(pcm).max() > level]

    async def aclose(self) -> None:
        await self.stream.aclose()
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


class Talker:
    """A participant at a microphone: silence, except while saying what it is told to.

    A real microphone keeps sending frames when nobody speaks; the agent's VAD
    needs that silence to hear that a turn ended.
    """

    def __init__(self, microphone: FakeMicrophone) -> None:
        self.microphone = microphone
        self._lines: asyncio.Queue[tuple[np.ndarray, asyncio.Future[float]]] = asyncio.Queue()
        self.task = asyncio.create_task(self._run())

    async def say(self, samples: np.ndarray) -> float:
        """Speak ``samples`` (16 kHz); returns the wall-clock time the speech ended."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._lines.put_nowait((samples, done))
        return await done

    def start_saying(self, samples: np.ndarray) -> asyncio.Future[float]:
        """Start speaking and return at once (a future of the end time)."""
        done: asyncio.Future[float] = asyncio.get_running_loop().create_future()
        self._lines.put_nowait((samples, done))
        return done

    async def _run(self) -> None:
        silence = np.zeros(160, np.float32)
        while True:
            if self._lines.empty():
                await self.microphone.say(silence)
                continue
            samples, done = self._lines.get_nowait()
            await self.microphone.say(samples)
            done.set_result(time.perf_counter())

    async def aclose(self) -> None:
        self.task.cancel()
        await asyncio.gather(self.task, return_exceptions=True)


async def ask_in_room(room: Any, identity: str, speech: np.ndarray, *, within: float = 20) -> None:
    """``identity`` joins ``room`` with a microphone, says ``speech``, and the agent answers.

    Waits until the agent's final transcript line is in the room, then hangs up.
    """
    room.add_participant(identity)
    talker = Talker(room.add_microphone(identity))
    await talker.say(speech)

    def answered() -> bool:
        lines = room.local_participant.messages("va.transcript")
        return any(m["final"] and m["role"] == "agent" for m in lines)

    try:
        await until(answered, within=within)
    finally:
        await talker.aclose()

"""The room's audio path with the SDK's real objects (they work offline).

The agent's replies go through an rtc.AudioSource into its LocalAudioTrack, and
are read back through an rtc.AudioStream of that same track, as a participant
would hear them; a participant's microphone is an rtc.AudioSource too, read by
ParticipantAudio through an rtc.AudioStream resampled to 16 kHz.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import numpy as np
import pytest

from tests.rooms_helpers import Listener
from voice_agent_cli.rooms.audio_in import ParticipantAudio
from voice_agent_cli.rooms.audio_out import AgentTrack
from voice_agent_cli.testing.fake_livekit import FakeMicrophone


def tone(seconds: float, rate: int, frequency: float = 440.0, level: float = 0.5) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (np.sin(2 * np.pi * frequency * t) * level).astype(np.float32)


@pytest.fixture
async def agent_track() -> AsyncIterator[AgentTrack]:
    async with AgentTrack(48000) as track:
        yield track


def dominant_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples * np.hanning(len(samples))))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[int(np.argmax(spectrum))])


async def test_tts_audio_comes_out_of_the_published_track_in_real_time(
    agent_track: AgentTrack,
) -> None:
    listener = Listener(agent_track.track)
    sink = agent_track.sink()
    began = time.perf_counter()
    # Two "sentences" at piper's rate (22.05 kHz), resampled to the 48 kHz track.
    await sink.write(tone(0.5, 22050), 22050)
    await sink.write(tone(0.5, 22050), 22050)
    assert sink.is_playing
    await sink.drain()
    elapsed = time.perf_counter() - began
    await asyncio.sleep(0.15)
    await listener.aclose()

    assert 0.8 < elapsed < 2.0  # paced like a speaker, not dumped at once
    heard = listener.audio()
    loud_frames = [pcm for _, pcm in listener.frames if np.abs(pcm).max() > 0.05]
    assert 0.9 <= len(loud_frames) / 100 <= 1.1  # the whole second of tone, in 10 ms frames
    assert abs(dominant_frequency(heard, 16000) - 440) < 10
    assert not sink.is_playing and agent_track.sent_seconds == pytest.approx(1.0, abs=0.02)


async def test_clearing_one_reply_cuts_it_at_once_and_leaves_the_others(
    agent_track: AgentTrack,
) -> None:
    listener = Listener(agent_track.track)
    alice, bob = agent_track.sink(), agent_track.sink()
    await alice.write(tone(3.0, 22050, 440), 22050)
    await bob.write(tone(0.6, 22050, 880), 22050)  # queued after alice's reply
    await asyncio.sleep(0.5)
    cut_at = time.perf_counter()
    dropped = alice.clear()
    assert 2.2 < dropped < 2.7  # what was not heard yet
    assert not alice.is_playing and bob.is_playing
    await bob.drain()
    await asyncio.sleep(0.1)
    await listener.aclose()

    # After the cut: bob's 880 Hz, never alice's 440 Hz again.
    after = np.concatenate([pcm for at, pcm in listener.frames if at > cut_at + 0.15])
    assert abs(dominant_frequency(after, 16000) - 880) < 15
    loud = listener.loud_times(0.05)
    assert loud and loud[-1] - cut_at < 1.2  # bob's 0.6 s, then silence


async def test_a_24_khz_track_works_too() -> None:
    async with AgentTrack(24000) as track:
        listener = Listener(track.track)
        sink = track.sink()
        await sink.write(tone(0.3, 22050), 22050)
        await sink.drain()
        await asyncio.sleep(0.1)
        await listener.aclose()
    assert abs(dominant_frequency(listener.audio(), 16000) - 440) < 15


async def test_a_participant_microphone_becomes_16_khz_frames() -> None:
    microphone = FakeMicrophone(48000)
    source = ParticipantAudio(microphone.track, identity="alice")
    frames = []

    async def read() -> None:
        async for frame in source.frames():
            frames.append(frame)

    reader = asyncio.create_task(read())
    await microphone.say(tone(0.5, 48000, 300))
    await asyncio.sleep(0.1)
    await source.aclose()
    await asyncio.wait_for(reader, 2)
    await microphone.aclose()

    assert all(f.sample_rate == 16000 and len(f.samples) == 320 for f in frames)
    assert [f.timestamp for f in frames[:3]] == pytest.approx([0.0, 0.02, 0.04])
    audio = np.concatenate([f.samples for f in frames])
    assert abs(dominant_frequency(audio, 16000) - 300) < 10
    assert source.realtime and 0.5 <= source.received_seconds < 1.0

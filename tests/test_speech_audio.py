"""Audio files, frames and resampling: every common WAV in, clear errors for bad ones."""

from __future__ import annotations

import asyncio
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from tests.speech_fixtures import silence, tone
from voice_agent_cli.errors import EXIT_USAGE, AudioError
from voice_agent_cli.speech.audio import (
    StreamResampler,
    read_audio,
    resample,
    split_frames,
    write_wav,
)
from voice_agent_cli.speech.files import FileSink, FileSource, expand_inputs
from voice_agent_cli.speech.io import PlaybackBuffer


def peak_frequency(samples: np.ndarray, rate: int) -> float:
    spectrum = np.abs(np.fft.rfft(samples))
    return float(np.fft.rfftfreq(len(samples), 1 / rate)[spectrum.argmax()])


@pytest.mark.parametrize(
    ("rate", "channels", "subtype"),
    [
        (8000, 1, "PCM_16"),
        (16000, 1, "PCM_16"),
        (22050, 2, "PCM_16"),
        (44100, 2, "FLOAT"),
        (48000, 1, "PCM_24"),
        (32000, 2, "PCM_U8"),
    ],
)
def test_any_common_wav_reads_as_16k_mono(
    tmp_path: Path, rate: int, channels: int, subtype: str
) -> None:
    t = np.arange(rate) / rate  # one second
    wave = (0.4 * np.sin(2 * np.pi * 440 * t)).astype(np.float32)
    data = np.stack([wave] * channels, axis=1) if channels > 1 else wave
    path = tmp_path / "in.wav"
    sf.write(path, data, rate, subtype=subtype)

    samples = read_audio(path)

    assert samples.dtype == np.float32 and samples.ndim == 1
    assert len(samples) == 16000
    assert abs(peak_frequency(samples, 16000) - 440) < 3
    assert 0.3 < np.abs(samples).max() < 0.5


def test_resampling_keeps_duration_and_pitch() -> None:
    sound = tone(1.0, 1000)
    up = resample(sound, 16000, 48000)
    assert len(up) == 48000
    assert abs(peak_frequency(up, 48000) - 1000) < 3
    assert resample(sound, 16000, 16000) is sound


def test_stream_resampling_in_chunks_matches_the_whole() -> None:
    sound = tone(1.0, 300)
    resampler = StreamResampler(16000, 22050)
    pieces = [resampler.push(chunk) for chunk in np.array_split(sound, 37)]
    streamed = np.concatenate([*pieces, resampler.flush()])
    assert abs(len(streamed) - 22050) <= 32
    assert abs(peak_frequency(streamed, 22050) - 300) < 3


def _bad_files(folder: Path) -> dict[str, Path]:
    good = folder / "good.wav"
    sf.write(good, tone(1.0), 16000, subtype="PCM_16")
    raw = good.read_bytes()
    files = {
        "empty": folder / "empty.wav",
        "zero_bytes": folder / "zero.wav",
        "truncated": folder / "truncated.wav",
        "header_only": folder / "header.wav",
        "not_wav": folder / "notes.wav",
        "too_slow": folder / "4k.wav",
        "too_fast": folder / "96k.wav",
    }
    sf.write(files["empty"], np.zeros(0, np.float32), 16000, subtype="PCM_16")
    files["zero_bytes"].write_bytes(b"")
    files["truncated"].write_bytes(raw[: len(raw) // 2])
    files["header_only"].write_bytes(raw[:30])
    files["not_wav"].write_text("this is a text file, not audio\n")
    sf.write(files["too_slow"], tone(0.5), 4000, subtype="PCM_16")
    sf.write(files["too_fast"], tone(0.5), 96000, subtype="PCM_16")
    return files


@pytest.mark.parametrize(
    ("case", "message"),
    [
        ("empty", "holds no audio"),
        ("zero_bytes", "not a WAV file"),
        ("truncated", "truncated WAV file"),
        ("header_only", "truncated"),
        ("not_wav", "not a WAV file"),
        ("too_slow", "unsupported sample rate 4000 Hz"),
        ("too_fast", "unsupported sample rate 96000 Hz"),
    ],
)
def test_bad_audio_files_are_clear_usage_errors(tmp_path: Path, case: str, message: str) -> None:
    path = _bad_files(tmp_path)[case]
    with pytest.raises(AudioError) as caught:
        read_audio(path)
    assert message in str(caught.value)
    assert str(path) in str(caught.value)
    assert "\n" not in str(caught.value)
    assert caught.value.exit_code == EXIT_USAGE


def test_missing_file_and_directory(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="no such file"):
        read_audio(tmp_path / "nope.wav")
    with pytest.raises(AudioError, match="is a directory"):
        read_audio(tmp_path)


def test_a_streamed_wav_with_unknown_length_is_accepted(tmp_path: Path) -> None:
    path = tmp_path / "streamed.wav"
    sf.write(path, tone(0.5), 16000, subtype="PCM_16")
    raw = bytearray(path.read_bytes())
    data = raw.index(b"data")
    raw[data + 4 : data + 8] = (0xFFFFFFFF).to_bytes(4, "little")  # what a pipe writer leaves
    path.write_bytes(bytes(raw))
    assert len(read_audio(path)) == 8000


def test_write_then_read_round_trip(tmp_path: Path) -> None:
    path = tmp_path / "out.wav"
    write_wav(path, resample(tone(0.5, 500), 16000, 22050), 22050)
    info = sf.info(path)
    assert (info.samplerate, info.channels, info.subtype) == (22050, 1, "PCM_16")
    assert abs(peak_frequency(read_audio(path), 16000) - 500) < 3


def test_frames_are_fixed_size_and_timestamped() -> None:
    frames = list(split_frames(silence(0.05), 16000, frame_ms=20))
    assert [len(f.samples) for f in frames] == [320, 320, 320]  # the last one padded
    assert [f.timestamp for f in frames] == [0.0, 0.02, 0.04]
    assert frames[1].end == pytest.approx(0.04)


async def test_file_source_plays_files_in_order_with_gaps(tmp_path: Path) -> None:
    folder = tmp_path / "turns"
    folder.mkdir()
    write_wav(folder / "2.wav", tone(0.2, 600), 16000)
    write_wav(folder / "1.wav", resample(tone(0.3, 300), 16000, 48000), 48000)
    assert [p.name for p in expand_inputs([folder])] == ["1.wav", "2.wav"]

    source = FileSource.from_files([folder], gap_s=0.1, frame_ms=10)
    frames = [frame async for frame in source.frames()]
    assert all(len(f.samples) == 160 for f in frames)
    assert frames[-1].end == pytest.approx(0.3 + 0.1 + 0.2 + 0.1, abs=0.011)
    assert source.realtime is False


def test_an_empty_input_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match=r"no \.wav files"):
        expand_inputs([tmp_path])


async def test_file_sink_writes_replies_with_a_pause_between(tmp_path: Path) -> None:
    path = tmp_path / "reply.wav"
    sink = FileSink(path, gap_s=0.5)
    await sink.write(tone(1.0), 16000)
    await sink.drain()
    await sink.write(tone(0.5), 16000)
    await sink.drain()
    assert sink.clear() == 0.0 and not sink.is_playing
    await sink.aclose()
    assert sf.info(path).duration == pytest.approx(2.0, abs=0.01)


async def test_file_sink_into_a_directory_writes_one_file_per_reply(tmp_path: Path) -> None:
    folder = tmp_path / "replies"
    folder.mkdir()
    sink = FileSink(folder)
    for seconds in (0.3, 0.6):
        await sink.write(resample(tone(seconds), 16000, 22050), 22050)
        await sink.drain()
    await sink.aclose()
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == ["reply-001.wav", "reply-002.wav"]
    assert sf.info(files[1]).duration == pytest.approx(0.6, abs=0.01)


def test_file_sink_in_a_missing_directory_is_an_error(tmp_path: Path) -> None:
    with pytest.raises(AudioError, match="does not exist"):
        FileSink(tmp_path / "no" / "reply.wav")


def test_playback_buffer_pulls_in_order_and_clears_at_once() -> None:
    buffer = PlaybackBuffer()
    buffer.push(np.ones(300, np.float32))
    buffer.push(np.full(300, 2.0, np.float32))
    block, real = buffer.pull(400)
    assert real == 400 and block[299] == 1.0 and block[300] == 2.0
    assert buffer.pending == 200
    assert buffer.clear() == 200
    block, real = buffer.pull(100)
    assert real == 0 and not block.any()


async def test_a_speaker_that_stops_playing_fails_the_drain_instead_of_hanging(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import numpy as np

    from voice_agent_cli.errors import AudioDeviceError
    from voice_agent_cli.speech import io

    monkeypatch.setattr(io, "STALL_S", 0.2)
    sink = io.BufferedSink(16000)  # no clock ever pulls: a device stream that died
    await sink.write(np.ones(1600, dtype=np.float32), 16000)
    with pytest.raises(AudioDeviceError, match="the speaker stopped playing"):
        await asyncio.wait_for(sink.drain(), timeout=5)
    assert not sink.is_playing

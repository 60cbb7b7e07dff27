"""Audio as va handles it: float32 mono frames, resampling, and WAV files.

Inside the voice loop audio is always mono float32 in [-1, 1]. Input runs at
:data:`PIPELINE_RATE` (16 kHz, what Silero VAD and Whisper expect) in frames
of 10-20 ms; speech synthesis keeps the voice's own rate until a sink converts
it. Files in any common WAV flavour (mono/stereo, 8-48 kHz, 8/16/24/32-bit PCM
or float) are read and converted here, and every way a file can be unusable
becomes an :class:`~voice_agent_cli.errors.AudioError` (exit code 2).
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_agent_cli.errors import AudioError

if TYPE_CHECKING:
    import numpy.typing as npt

    Samples = npt.NDArray[np.float32]

#: The sample rate of everything between the microphone and the recogniser.
PIPELINE_RATE = 16000
#: Sample rates va accepts in input files.
MIN_RATE, MAX_RATE = 8000, 48000


@dataclass(frozen=True)
class AudioFrame:
    """A short piece of mono audio and where it sits in its stream.

    ``timestamp`` is the stream time of the first sample, in seconds since the
    stream started (audio time, not wall time: a file source runs faster than
    real time and its timestamps still say where in the audio we are).
    """

    samples: Samples
    sample_rate: int
    timestamp: float

    @property
    def duration(self) -> float:
        """Length in seconds."""
        return len(self.samples) / self.sample_rate

    @property
    def end(self) -> float:
        """Stream time just after the last sample."""
        return self.timestamp + self.duration


def frame_samples(sample_rate: int, frame_ms: int) -> int:
    """Samples in one frame of ``frame_ms`` milliseconds."""
    return sample_rate * frame_ms // 1000


def split_frames(
    samples: Samples, sample_rate: int, frame_ms: int = 20, start: float = 0.0
) -> Iterator[AudioFrame]:
    """Cut ``samples`` into frames of ``frame_ms`` (the last one zero-padded)."""
    size = frame_samples(sample_rate, frame_ms)
    for offset in range(0, len(samples), size):
        chunk = samples[offset : offset + size]
        if len(chunk) < size:
            chunk = np.concatenate([chunk, np.zeros(size - len(chunk), dtype=np.float32)])
        yield AudioFrame(chunk, sample_rate, start + offset / sample_rate)


def silence(seconds: float, sample_rate: int = PIPELINE_RATE) -> Samples:
    """``seconds`` of digital silence."""
    return np.zeros(round(seconds * sample_rate), dtype=np.float32)


def to_int16(samples: Samples) -> npt.NDArray[np.int16]:
    """Float samples as 16-bit PCM (clipped)."""
    return (np.clip(samples, -1.0, 1.0) * 32767.0).astype(np.int16)


def from_int16(pcm: npt.NDArray[np.int16]) -> Samples:
    """16-bit PCM as float samples."""
    return pcm.astype(np.float32) / 32768.0


class StreamResampler:
    """Converts a stream of chunks from one rate to another, keeping filter state.

    Uses the resampler of the livekit SDK (a libsoxr-grade polyphase filter
    that works offline). Output lags input by the filter's delay; ``flush``
    returns the tail.
    """

    def __init__(self, input_rate: int, output_rate: int) -> None:
        self.input_rate = input_rate
        self.output_rate = output_rate
        self._resampler = None if input_rate == output_rate else self._new()

    def _new(self) -> Any:  # the SDK type is imported lazily
        from livekit import rtc

        return rtc.AudioResampler(
            self.input_rate, self.output_rate, quality=rtc.AudioResamplerQuality.MEDIUM
        )

    def push(self, samples: Samples) -> Samples:
        """Resample a chunk; returns what the filter has ready (possibly nothing)."""
        if self._resampler is None or len(samples) == 0:
            return samples
        from livekit import rtc

        pcm = to_int16(samples)
        frame = rtc.AudioFrame(pcm.tobytes(), self.input_rate, 1, len(pcm))
        return _join(self._resampler.push(frame))

    def flush(self) -> Samples:
        """The samples still inside the filter; the resampler is ready for a new stream."""
        if self._resampler is None:
            return np.zeros(0, dtype=np.float32)
        tail = _join(self._resampler.flush())
        self._resampler = self._new()
        return tail

    def reset(self) -> None:
        """Drop the filter state (after a barge-in the old stream is abandoned)."""
        if self._resampler is not None:
            self._resampler = self._new()


def _join(frames: list[Any]) -> Samples:  # livekit AudioFrames
    if not frames:
        return np.zeros(0, dtype=np.float32)
    return from_int16(np.concatenate([np.frombuffer(f.data, dtype=np.int16) for f in frames]))


def resample(samples: Samples, input_rate: int, output_rate: int) -> Samples:
    """A whole buffer at another rate."""
    if input_rate == output_rate:
        return samples

    resampler = StreamResampler(input_rate, output_rate)
    out = np.concatenate([resampler.push(samples), resampler.flush()])
    # The filter may round the length by a sample or two; keep the exact duration.
    expected = round(len(samples) * output_rate / input_rate)
    if len(out) >= expected:
        return out[:expected]
    return np.concatenate([out, np.zeros(expected - len(out), dtype=np.float32)])


def to_mono(samples: npt.NDArray[np.float32]) -> Samples:
    """Average the channels of a ``(frames, channels)`` array."""
    if samples.ndim == 1:
        return samples.astype(np.float32, copy=False)
    return samples.mean(axis=1).astype(np.float32)


# --- files ----------------------------------------------------------------------


def read_audio(path: Path, target_rate: int = PIPELINE_RATE) -> Samples:
    """Read an audio file as mono float32 at ``target_rate``.

    Raises :class:`AudioError` for a missing, empty, truncated or unreadable
    file, or a sample rate outside 8-48 kHz.
    """
    import soundfile as sf

    if not path.exists():
        raise AudioError(f"{path}: no such file")
    if path.is_dir():
        raise AudioError(f"{path}: is a directory, not an audio file")
    _check_riff(path)
    try:
        samples, rate = sf.read(str(path), dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(f"{path}: not a WAV file va can read ({_reason(exc)})") from None
    if len(samples) == 0:
        raise AudioError(f"{path}: the file holds no audio")
    if not MIN_RATE <= rate <= MAX_RATE:
        raise AudioError(
            f"{path}: unsupported sample rate {rate} Hz (use {MIN_RATE}-{MAX_RATE} Hz)"
        )
    return resample(to_mono(samples), rate, target_rate)


def write_wav(path: Path, samples: Samples, sample_rate: int) -> None:
    """Write mono 16-bit PCM WAV (what every player reads)."""
    import soundfile as sf

    try:
        sf.write(str(path), samples, sample_rate, subtype="PCM_16", format="WAV")
    except (sf.LibsndfileError, OSError) as exc:
        raise AudioError(f"{path}: cannot write audio ({_reason(exc)})") from None


def _reason(exc: BaseException) -> str:
    text = str(exc)
    # libsndfile repeats the path in its message: keep only the reason.
    return text.split(": ", 1)[-1] if text.startswith("Error opening") else text


def _check_riff(path: Path) -> None:
    """Catch a truncated WAV file, which libsndfile would silently read short.

    Walks the RIFF chunks to the ``data`` chunk and compares its declared size
    with what the file holds. Files that are not RIFF/WAVE are left to
    libsndfile; a data size of 0 or 0xFFFFFFFF (written by a stream that could
    not seek back) means "unknown" and is accepted.
    """
    try:
        with path.open("rb") as handle:
            header = handle.read(12)
            if len(header) < 12 or header[:4] != b"RIFF" or header[8:12] != b"WAVE":
                if header[:4] == b"RIFF":
                    raise AudioError(f"{path}: truncated WAV header")
                return
            size = path.stat().st_size
            position = 12
            while position + 8 <= size:
                handle.seek(position)
                chunk_id, chunk_size = struct.unpack("<4sI", handle.read(8))
                if chunk_id == b"data":
                    available = size - position - 8
                    if chunk_size not in (0, 0xFFFFFFFF) and chunk_size > available:
                        raise AudioError(
                            f"{path}: truncated WAV file (header promises {chunk_size} bytes "
                            f"of audio, the file holds {available})"
                        )
                    return
                position += 8 + chunk_size + (chunk_size & 1)
    except OSError as exc:
        raise AudioError(f"{path}: cannot read ({exc.strerror})") from None
    raise AudioError(f"{path}: truncated WAV file (no audio data)")

"""WAV files as a microphone and a speaker, for headless runs (CI, scripts, ``va bench``).

:class:`FileSource` plays input files as consecutive turns of one conversation:
each file is followed by a gap of silence, so a file always ends the user's
turn. :class:`FileSink` writes the agent's replies to one WAV file (replies
separated by a short pause) or, given a directory, one file per reply.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncGenerator, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_agent_cli.errors import AudioError
from voice_agent_cli.speech.audio import (
    PIPELINE_RATE,
    StreamResampler,
    read_audio,
    silence,
    split_frames,
    write_wav,
)

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import AudioFrame, Samples
    from voice_agent_cli.speech.io import PlayedListener

#: File name patterns a directory given as input is searched for.
AUDIO_PATTERNS = ("*.wav", "*.WAV", "*.flac", "*.ogg")


def expand_inputs(paths: Iterable[Path]) -> list[Path]:
    """Files in the order given; a directory contributes its audio files sorted by name."""
    found: list[Path] = []
    for path in paths:
        if path.is_dir():
            inside = sorted({f for pattern in AUDIO_PATTERNS for f in path.glob(pattern)})
            if not inside:
                raise AudioError(f"{path}: no .wav files in this directory")
            found.extend(inside)
        else:
            found.append(path)
    return found


class FileSource:
    """Audio files as one stream of 16 kHz frames, each file followed by ``gap_s`` of silence.

    ``clips`` are 16 kHz mono; :meth:`from_files` reads and checks every file
    up front, so a bad file fails before any model loads. With ``pace=True``
    frames come at the speed of real time, like a microphone (``va talk
    --realtime``, ``va bench``).
    """

    def __init__(
        self,
        clips: Sequence[Samples],
        *,
        paths: Sequence[Path] = (),
        frame_ms: int = 20,
        gap_s: float = 1.0,
        lead_s: float = 0.0,
        pace: bool = False,
    ) -> None:
        self.clips = list(clips)
        self.paths = list(paths)
        self.frame_ms = frame_ms
        self.gap_s = gap_s
        self.lead_s = lead_s
        self.realtime = pace
        self.polite = True
        self._closed = False

    @classmethod
    def from_files(cls, paths: Sequence[Path], **options: Any) -> FileSource:
        """A source over audio files (directories expanded); every file is checked now."""
        files = expand_inputs(paths)
        return cls([read_audio(path) for path in files], paths=files, **options)

    @property
    def duration(self) -> float:
        """Seconds of audio the source yields in all."""
        total = self.lead_s + sum(len(c) / PIPELINE_RATE + self.gap_s for c in self.clips)
        return total

    async def frames(self) -> AsyncGenerator[AudioFrame, None]:
        offset = self.lead_s
        parts = [(silence(self.lead_s), 0.0)] if self.lead_s else []
        for clip in self.clips:
            parts.append((_with_gap(clip, self.gap_s), offset))
            offset += len(parts[-1][0]) / PIPELINE_RATE
        for samples, start in parts:
            # The pace restarts with each file: the loop does not read while the
            # agent answers (polite), and the next file must not rush to catch up.
            started = time.perf_counter()
            for frame in split_frames(samples, PIPELINE_RATE, self.frame_ms, start):
                if self._closed:
                    return
                if self.realtime:
                    delay = started + (frame.timestamp - start) - time.perf_counter()
                    if delay > 0:
                        await asyncio.sleep(delay)
                else:
                    # Let the rest of the loop run between frames even at full speed.
                    await asyncio.sleep(0)
                yield frame

    async def aclose(self) -> None:
        self._closed = True


def _with_gap(clip: Samples, gap_s: float) -> Samples:
    return np.concatenate([clip, silence(gap_s)])


class FileSink:
    """The agent's replies written to WAV: one file, or one file per reply in a directory.

    Writing is instant, so the sink never "plays" for long: barge-in has
    nothing to cut. Replies in one file are separated by ``gap_s`` of silence.
    """

    realtime = False
    output_latency = 0.0

    def __init__(self, path: Path | None, *, gap_s: float = 0.4) -> None:
        self.path = path
        self.per_reply = path is not None and (path.is_dir() or str(path).endswith(("/", "\\")))
        if self.per_reply and path is not None:
            path.mkdir(parents=True, exist_ok=True)
        elif path is not None and not path.parent.exists():
            raise AudioError(f"{path}: the directory {path.parent} does not exist")
        self.gap_s = gap_s
        self.sample_rate: int | None = None
        self.replies: list[list[Samples]] = []
        self._current: list[Samples] | None = None
        self._resamplers: dict[int, StreamResampler] = {}
        self._listeners: list[PlayedListener] = []
        self.written: list[Path] = []

    async def write(self, samples: Samples, sample_rate: int) -> None:
        if self.sample_rate is None:
            self.sample_rate = sample_rate
        if sample_rate != self.sample_rate:
            resampler = self._resamplers.setdefault(
                sample_rate, StreamResampler(sample_rate, self.sample_rate)
            )
            samples = _concat([resampler.push(samples), resampler.flush()])
        if self._current is None:
            self._current = []
            self.replies.append(self._current)
        self._current.append(samples)
        for listener in self._listeners:
            listener(samples, self.sample_rate)

    def clear(self) -> float:
        return 0.0

    def pause(self) -> None:
        pass  # written at once: nothing is ever playing

    def resume(self) -> None:
        pass

    async def drain(self) -> None:
        if self._current is not None and self.per_reply:
            self._save_reply(len(self.replies), self._current)
        self._current = None

    @property
    def is_playing(self) -> bool:
        return False

    def add_listener(self, listener: PlayedListener) -> None:
        self._listeners.append(listener)

    def audio(self) -> Samples:
        """Everything written so far, replies separated by the gap."""
        rate = self.sample_rate or PIPELINE_RATE
        parts: list[Samples] = []
        for index, reply in enumerate(self.replies):
            if index:
                parts.append(silence(self.gap_s, rate))
            parts.extend(reply)
        return _concat(parts)

    async def aclose(self) -> None:
        if self.path is None:
            return
        if self.per_reply:
            if self._current is not None:
                self._save_reply(len(self.replies), self._current)
            return
        # A conversation with no reply still leaves a (silent) file, so scripts
        # that expect the output file find one.
        samples = self.audio() if self.replies else silence(0.1, self.sample_rate or 22050)
        write_wav(self.path, samples, self.sample_rate or 22050)
        self.written.append(self.path)

    def _save_reply(self, number: int, chunks: list[Samples]) -> None:
        assert self.path is not None and self.sample_rate is not None
        target = self.path / f"reply-{number:03d}.wav"
        write_wav(target, _concat(chunks), self.sample_rate)
        self.written.append(target)


def _concat(parts: list[Samples]) -> Samples:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=np.float32)

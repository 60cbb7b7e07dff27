"""Endpointing: where a user's turn starts and ends, from VAD probabilities.

The rules, in stream time (audio seconds, so a file gives the same turns fast
or paced):

- speech starts after ``start_ms`` of speech (a click is not a start);
  ``pre_roll_ms`` of audio before it is kept so the first word is whole;
- once ``pause_ms`` of silence follows speech, :class:`SpeechPaused` offers
  the audio so far (the voice loop transcribes it speculatively);
- speech again after a pause is :class:`SpeechResumed` (the speculation is void);
- ``end_silence_ms`` of silence ends the turn: :class:`UtteranceEnded`, unless
  there was less than ``min_speech_ms`` of speech (a cough, a door): then
  :class:`UtteranceDiscarded`, and no turn.

The voice loop may change the silence that ends the utterance in progress
(:attr:`Endpointer.end_silence_ms`) once it knows the words: shorter after a
complete question, longer when they trail off. Speech again resets it.

``end_of_turn_delay`` is the time from the end of speech to the decision.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from voice_agent_cli.speech.vad import CHUNK_SECONDS, SileroVAD

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import AudioFrame, Samples


@dataclass(frozen=True)
class EndpointingOptions:
    """Thresholds of the endpointer (times in milliseconds of audio)."""

    threshold: float = 0.5
    start_ms: int = 64
    end_silence_ms: int = 400
    min_speech_ms: int = 200
    pause_ms: int = 64
    pre_roll_ms: int = 300
    max_utterance_s: float = 30.0

    @property
    def negative_threshold(self) -> float:
        """Below this the chunk is silence (Silero's hysteresis: 0.15 under the threshold)."""
        return max(0.01, self.threshold - 0.15)


@dataclass(frozen=True)
class Utterance:
    """What the user said in one turn, and when (stream seconds)."""

    audio: Samples
    start: float
    speech_end: float
    decided_at: float

    @property
    def speech_seconds(self) -> float:
        """From the first to the last speech chunk."""
        return self.speech_end - self.start

    @property
    def end_of_turn_delay_ms(self) -> float:
        """From the end of speech to the end-of-turn decision."""
        return (self.decided_at - self.speech_end) * 1000


@dataclass(frozen=True)
class SpeechStarted:
    """The user started speaking (after ``start_ms`` of speech)."""

    at: float


@dataclass(frozen=True)
class SpeechPaused:
    """Speech stopped for ``pause_ms``: the audio so far may already be transcribed."""

    audio: Samples
    at: float


@dataclass(frozen=True)
class SpeechResumed:
    """Speech came back before the turn ended."""

    at: float


@dataclass(frozen=True)
class UtteranceEnded:
    """The user's turn ended."""

    utterance: Utterance


@dataclass(frozen=True)
class UtteranceDiscarded:
    """Too little speech to be a turn (noise, a cough)."""

    speech_seconds: float
    at: float


EndpointEvent = SpeechStarted | SpeechPaused | SpeechResumed | UtteranceEnded | UtteranceDiscarded


class Endpointer:
    """Turns a stream of 16 kHz frames into turn boundaries."""

    def __init__(self, options: EndpointingOptions | None = None, vad: SileroVAD | None = None):
        self.options = options or EndpointingOptions()
        self.vad = vad or SileroVAD()
        #: The threshold that starts speech now; the voice loop lowers it while the
        #: agent talks over an echo canceller, which muffles the user's first word.
        self.start_threshold = self.options.threshold
        self._time = 0.0  # stream time of the next chunk
        self._synced = False
        self._reset_turn()

    def _reset_turn(self) -> None:
        pre_roll = max(1, int(self.options.pre_roll_ms / 1000 / CHUNK_SECONDS))
        self._pre_roll: deque[Samples] = deque(maxlen=pre_roll)
        self._chunks: list[Samples] = []
        self._in_speech = False
        self._speech_run = 0.0
        self._silence_run = 0.0
        self._start = 0.0
        self._speech_end = 0.0
        self._paused = False
        #: The silence (ms) that ends the utterance in progress (see the module doc).
        self.end_silence_ms = self.options.end_silence_ms

    @property
    def in_speech(self) -> bool:
        """True between the start of a turn and its end."""
        return self._in_speech

    @property
    def speech_seconds(self) -> float:
        """From the start of the turn in progress to its last speech chunk (0 outside one)."""
        return self._speech_end - self._start if self._in_speech else 0.0

    def reset(self) -> None:
        """Drop the turn in progress and the VAD state (half-duplex, while the agent speaks)."""
        self.vad.reset()
        self._synced = False
        self._reset_turn()

    def push(self, frame: AudioFrame) -> list[EndpointEvent]:
        """Process one frame; returns the boundaries it crossed."""
        if not self._synced:
            self._time = frame.timestamp
            self._synced = True
        events: list[EndpointEvent] = []
        for chunk, probability in self.vad.push(frame.samples):
            events.extend(self._step(chunk, probability))
            self._time += CHUNK_SECONDS
        return events

    def flush(self) -> list[EndpointEvent]:
        """The stream ended: end the turn in progress now."""
        if not self._in_speech:
            return []
        return [self._finish(self._time)]

    def _step(self, chunk: Samples, probability: float) -> list[EndpointEvent]:
        options = self.options
        start_of_chunk, end_of_chunk = self._time, self._time + CHUNK_SECONDS
        is_speech = probability >= options.threshold
        is_silence = probability < options.negative_threshold
        if not self._in_speech:
            self._pre_roll.append(chunk)
            if probability < self.start_threshold:
                self._speech_run = 0.0
                return []
            if self._speech_run == 0.0:
                self._start = start_of_chunk
            self._speech_run += CHUNK_SECONDS
            if self._speech_run * 1000 < options.start_ms:
                return []
            self._in_speech = True
            self._chunks = list(self._pre_roll)
            self._speech_end = end_of_chunk
            self._silence_run = 0.0
            return [SpeechStarted(self._start)]

        self._chunks.append(chunk)
        events: list[EndpointEvent] = []
        if is_speech:
            self._speech_end = end_of_chunk
            self._silence_run = 0.0
            if self._paused:
                self._paused = False
                self.end_silence_ms = options.end_silence_ms  # the words have changed
                events.append(SpeechResumed(start_of_chunk))
        elif is_silence:
            self._silence_run += CHUNK_SECONDS
        silence_ms = self._silence_run * 1000
        if not self._paused and options.pause_ms <= silence_ms < self.end_silence_ms:
            self._paused = True
            events.append(SpeechPaused(self._audio(), end_of_chunk))
        too_long = end_of_chunk - self._start >= options.max_utterance_s
        if silence_ms >= self.end_silence_ms or too_long:
            events.append(self._finish(end_of_chunk))
        return events

    def _finish(self, decided_at: float) -> UtteranceEnded | UtteranceDiscarded:
        speech = self._speech_end - self._start
        if speech * 1000 < self.options.min_speech_ms:
            event: UtteranceEnded | UtteranceDiscarded = UtteranceDiscarded(speech, decided_at)
        else:
            event = UtteranceEnded(
                Utterance(self._audio(), self._start, self._speech_end, decided_at)
            )
        self._reset_turn()
        return event

    def _audio(self) -> Samples:
        return np.concatenate(self._chunks) if self._chunks else np.zeros(0, np.float32)

"""No self-hearing: WebRTC echo cancellation between the speaker and the microphone.

The livekit SDK ships WebRTC's AudioProcessingModule (echo canceller, noise
suppression, high-pass filter), which runs offline on 10 ms frames. The sink
reports every block it plays (the far end); before each captured frame is
cleaned, the far-end audio played since the last frame is fed in, so the
canceller can subtract the agent's own voice from what the microphone hears.
With the agent's voice gone from the input, the user can barge in over it.
"""

from __future__ import annotations

import threading
from collections import deque
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_agent_cli.speech.audio import (
    PIPELINE_RATE,
    AudioFrame,
    StreamResampler,
    from_int16,
    to_int16,
)

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.io import AudioSink, AudioSource

#: The processing module works on exactly 10 ms.
APM_FRAME = PIPELINE_RATE // 100


class EchoCanceller:
    """Cleans 16 kHz microphone frames of the audio the sink played."""

    def __init__(
        self,
        *,
        echo_cancellation: bool = True,
        noise_suppression: bool = True,
        high_pass_filter: bool = True,
        delay_ms: int = 40,
    ) -> None:
        from livekit import rtc

        self._rtc = rtc
        self._apm = rtc.AudioProcessingModule(
            echo_cancellation=echo_cancellation,
            noise_suppression=noise_suppression,
            high_pass_filter=high_pass_filter,
        )
        self.echo_cancellation = echo_cancellation
        if echo_cancellation:
            self._apm.set_stream_delay_ms(delay_ms)
        # The sink calls reference() from its playback thread; process() drains it.
        self._far: deque[tuple[Samples, int]] = deque()
        self._far_lock = threading.Lock()
        self._resamplers: dict[int, StreamResampler] = {}
        self._far_pending: Any = None
        self._near_pending: Any = None

    @classmethod
    def between(cls, source: AudioSource, sink: AudioSink) -> EchoCanceller:
        """A canceller for these devices: the speaker-to-mic delay is their buffering."""
        latency = sink.output_latency + float(getattr(source, "latency", 0.0))
        return cls(delay_ms=round(latency * 1000) + 10 if latency else 40)

    def reference(self, samples: Samples, sample_rate: int) -> None:
        """Audio the speaker just played (a :data:`~voice_agent_cli.speech.io.PlayedListener`)."""
        with self._far_lock:
            self._far.append((samples.copy(), sample_rate))

    def process(self, frame: AudioFrame) -> AudioFrame:
        """The frame with the echo (and noise, hum) removed."""
        self._feed_far_end()
        near = frame.samples
        if self._near_pending is not None:
            near = np.concatenate([self._near_pending, near])
        usable = len(near) - len(near) % APM_FRAME
        cleaned = [self._process_near(near[i : i + APM_FRAME]) for i in range(0, usable, APM_FRAME)]
        self._near_pending = near[usable:] if usable < len(near) else None
        out = np.concatenate(cleaned) if cleaned else np.zeros(0, dtype=np.float32)
        return AudioFrame(out, frame.sample_rate, frame.timestamp)

    def _feed_far_end(self) -> None:
        if not self.echo_cancellation:
            return
        with self._far_lock:
            blocks = list(self._far)
            self._far.clear()
        for samples, rate in blocks:
            if rate != PIPELINE_RATE:
                resampler = self._resamplers.setdefault(rate, StreamResampler(rate, PIPELINE_RATE))
                samples = resampler.push(samples)
            if self._far_pending is not None:
                samples = np.concatenate([self._far_pending, samples])
            usable = len(samples) - len(samples) % APM_FRAME
            for i in range(0, usable, APM_FRAME):
                pcm = to_int16(samples[i : i + APM_FRAME])
                frame = self._rtc.AudioFrame(pcm.tobytes(), PIPELINE_RATE, 1, APM_FRAME)
                self._apm.process_reverse_stream(frame)
            self._far_pending = samples[usable:] if usable < len(samples) else None

    def _process_near(self, chunk: Samples) -> Samples:
        frame = self._rtc.AudioFrame(to_int16(chunk).tobytes(), PIPELINE_RATE, 1, APM_FRAME)
        self._apm.process_stream(frame)
        return from_int16(np.frombuffer(frame.data, dtype=np.int16))

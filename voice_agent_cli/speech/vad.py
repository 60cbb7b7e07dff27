"""Voice activity detection: Silero VAD, streamed chunk by chunk.

The model is the Silero VAD v6 ONNX file that ships inside faster-whisper
(``faster_whisper/assets``), run with onnxruntime: no extra dependency and no
download. faster-whisper itself only runs it over whole files; here the
recurrent state (``h``, ``c``) and the 64-sample context are carried from one
512-sample chunk (32 ms at 16 kHz) to the next, which gives the same
probabilities as the batch run, one chunk at a time (about 0.1 ms per chunk).
"""

from __future__ import annotations

import os
import threading
from functools import cache
from typing import TYPE_CHECKING, Any

import numpy as np

from voice_agent_cli.errors import ModelUnavailable
from voice_agent_cli.speech.audio import PIPELINE_RATE

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import Samples

#: Samples the model scores at a time (fixed by the model at 16 kHz).
CHUNK = 512
#: Samples of the previous chunk the model sees in front of each chunk.
CONTEXT = 64
CHUNK_SECONDS = CHUNK / PIPELINE_RATE

_session_lock = threading.Lock()


@cache
def _session() -> Any:
    """The ONNX session, once per process (it holds no per-stream state)."""
    import onnxruntime
    from faster_whisper.utils import get_assets_path

    path = os.path.join(get_assets_path(), "silero_vad_v6.onnx")
    options = onnxruntime.SessionOptions()
    # One thread: a chunk takes ~0.1 ms, and the cores are for STT, LLM and TTS.
    options.inter_op_num_threads = 1
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    try:
        return onnxruntime.InferenceSession(
            path, providers=["CPUExecutionProvider"], sess_options=options
        )
    except Exception as exc:  # onnxruntime raises its own exception types
        raise ModelUnavailable(f"cannot load the Silero VAD model at {path}: {exc}") from None


def load_vad_model() -> None:
    """Load the model now (it is otherwise loaded on the first chunk)."""
    with _session_lock:
        _session()


class SileroVAD:
    """Speech probability for each 32 ms of a 16 kHz stream."""

    def __init__(self) -> None:
        with _session_lock:
            self._model = _session()
        self._pending = np.zeros(0, dtype=np.float32)
        self.reset()

    def reset(self) -> None:
        """Forget the stream so far (a new stream starts)."""
        self._h = np.zeros((1, 1, 128), dtype=np.float32)
        self._c = np.zeros((1, 1, 128), dtype=np.float32)
        self._context = np.zeros(CONTEXT, dtype=np.float32)
        self._pending = np.zeros(0, dtype=np.float32)

    def push(self, samples: Samples) -> list[tuple[Samples, float]]:
        """Score new samples; returns each complete chunk with its speech probability."""
        self._pending = np.concatenate([self._pending, samples])
        scored: list[tuple[Samples, float]] = []
        while len(self._pending) >= CHUNK:
            chunk, self._pending = self._pending[:CHUNK], self._pending[CHUNK:]
            scored.append((chunk, self.score(chunk)))
        return scored

    def score(self, chunk: Samples) -> float:
        """The speech probability of exactly one chunk, continuing the stream."""
        window = np.concatenate([self._context, chunk])[np.newaxis, :]
        output, self._h, self._c = self._model.run(
            None, {"input": window, "h": self._h, "c": self._c}
        )
        self._context = chunk[-CONTEXT:]
        return float(np.asarray(output).reshape(-1)[0])

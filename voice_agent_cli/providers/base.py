"""What a provider is: a named factory of one kind of engine (LLM, STT or TTS).

A provider builds its engine from the effective settings and says, for
``va providers``, which models it knows. va's own providers and third-party
ones are the same kind of object; the registry
(:mod:`voice_agent_cli.providers.registry`) finds them by name.

A third-party package subclasses :class:`LLMProvider`, :class:`STTProvider` or
:class:`TTSProvider` and names an instance (or the class) in its entry points::

    [project.entry-points."va.llm"]
    echo = "va_example_provider:EchoProvider"

Its settings live in the profile's ``[providers.<name>]`` table, free-form
(:attr:`LLMContext.options`).
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Literal

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.llm.base import LLM
    from voice_agent_cli.llm.model_files import ProgressCallback
    from voice_agent_cli.resilience import RetryPolicy
    from voice_agent_cli.speech.settings import STTSettings, TTSSettings
    from voice_agent_cli.speech.stt import SpeechToText
    from voice_agent_cli.speech.tts import TextToSpeech

#: The kinds of provider, each an entry-point group ``va.<kind>``.
Kind = Literal["llm", "stt", "tts"]
KINDS: tuple[Kind, ...] = ("llm", "stt", "tts")


@dataclass(frozen=True)
class ModelList:
    """The models a provider knows, where that list came from, and what went wrong getting it."""

    models: list[str]
    #: "catalogue", "known names", "server", "profile"...
    source: str
    #: Why the list is missing or partial ("cannot reach the server at ..."), if it is.
    note: str | None = None


class Provider(ABC):
    """Base of every provider: a name-independent description and the models it knows."""

    kind: ClassVar[Kind]
    #: One line for ``va providers``.
    description: ClassVar[str] = ""


@dataclass(frozen=True)
class LLMContext:
    """Everything an LLM provider needs to build its LLM."""

    settings: Settings
    #: The provider's name in the registry (what the profile calls it).
    name: str
    #: A model that overrides the profile's (``--model``, an expert's own model).
    model: str | None = None
    #: Wait for the first chunk and between chunks (``llm.request_timeout_s``).
    timeout_s: float = 30.0
    retry: RetryPolicy | None = None
    progress: ProgressCallback | None = None

    @property
    def options(self) -> dict[str, Any]:
        """The profile's ``[providers.<name>]`` table: a third-party provider's own settings."""
        return dict(self.settings.profile.providers.get(self.name, {}))


class LLMProvider(Provider):
    """Builds an :class:`~voice_agent_cli.llm.base.LLM` from the settings."""

    kind = "llm"

    @abstractmethod
    def build(self, context: LLMContext) -> LLM:
        """The LLM, not started yet (its SDK imported now, not earlier)."""

    def model(self, settings: Settings, name: str) -> str:
        """The model the profile asks this provider for (``--model`` sets it)."""
        return str(settings.profile.providers.get(name, {}).get("model", ""))

    def model_key(self, name: str) -> str:
        """The profile key of that model (what ``--model`` overrides)."""
        return f"providers.{name}.model"

    def unusable(self, settings: Settings) -> str | None:
        """Why this provider cannot answer here (e.g. no API key), or None if it can.

        A failover chain leaves unusable providers out instead of failing on them.
        """
        return None

    async def models(self, settings: Settings, name: str, *, timeout_s: float) -> ModelList:
        """The models it knows (default: the one the profile names)."""
        model = self.model(settings, name)
        return ModelList([model] if model else [], "profile")


@dataclass(frozen=True)
class SpeechContext:
    """What a speech provider builds from: its profile section and its own options."""

    settings: Any  # STTSettings or TTSSettings
    options: dict[str, Any] = field(default_factory=dict)


class STTProvider(Provider):
    """Builds a :class:`~voice_agent_cli.speech.stt.SpeechToText` engine."""

    kind = "stt"

    @abstractmethod
    def build(self, context: SpeechContext) -> SpeechToText:
        """The engine, not loaded yet."""

    def models(self, settings: STTSettings) -> ModelList:
        """The models it knows."""
        return ModelList([], "profile")


class TTSProvider(Provider):
    """Builds a :class:`~voice_agent_cli.speech.tts.TextToSpeech` voice."""

    kind = "tts"

    @abstractmethod
    def build(self, context: SpeechContext) -> TextToSpeech:
        """The voice, not loaded yet."""

    def models(self, settings: TTSSettings) -> ModelList:
        """The voices it knows."""
        return ModelList([], "profile")

"""Profiles: the configuration of one va agent, and where each value comes from.

A profile is a TOML file. The ones shipped with va live in ``profiles/`` and
are chosen by name (``--profile gemini``); any other file is chosen by path
(``--profile ./mine.toml``). Every section and key is optional: what a file
leaves out takes the built-in default, so a profile may hold a single section.

Precedence, highest first: command-line flag > ``VA_*`` environment variable >
profile file > built-in default.

Environment variables: ``VA_<SECTION>__<KEY>`` sets any key (``VA_LLM__PROVIDER=local``,
``VA_GEMINI__MODEL=gemini-2.5-flash``); a few short aliases exist for the
common ones (see :data:`ENV_ALIASES`). Values are read as TOML scalars, so
``VA_LLM__TEMPERATURE=0.2`` is a float and ``VA_CACHE__ENABLED=false`` a bool.

Secrets never live in a profile: API keys are read from the environment
variables that the profile names (``gemini.api_key_env``).
"""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_serializer,
    field_validator,
    model_validator,
)

from voice_agent_cli.bench._settings import BenchSettings
from voice_agent_cli.errors import ConfigError
from voice_agent_cli.metrics.settings import ObservabilitySettings
from voice_agent_cli.rooms.settings import LiveKitSettings
from voice_agent_cli.tools.settings import MCPSettings

DEFAULT_SYSTEM_PROMPT = (
    "You are va, a helpful voice assistant running in a terminal. "
    "Answer in one to three short, plain sentences that sound natural when spoken aloud: "
    "no markdown, no lists, no code blocks unless the user asks for code. "
    "If you do not know something, say so briefly."
)


class Section(BaseModel):
    """Base of every profile section: unknown keys are errors, values are checked."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class LLMSettings(Section):
    """Which LLM answers, and how it is asked."""

    provider: Literal["auto", "local", "gemini"] = Field(
        "auto",
        description="auto = Gemini when an API key is set, else the embedded local model",
    )
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    temperature: float = Field(0.7, ge=0.0, le=2.0)
    max_output_tokens: int = Field(512, ge=1, le=65536)
    request_timeout_s: float = Field(
        30.0, gt=0, description="max wait for the first chunk, and between chunks"
    )
    max_retries: int = Field(2, ge=0, le=10, description="retries of retryable errors")
    retry_base_delay_s: float = Field(0.5, ge=0)
    retry_max_delay_s: float = Field(8.0, ge=0)
    max_tool_steps: int = Field(4, ge=0, le=20, description="LLM<->tool round trips per turn")


class GeminiSettings(Section):
    """Gemini through the google-genai SDK."""

    model: str = "gemini-2.0-flash"
    api_key_env: list[str] = Field(
        default_factory=lambda: ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        description="environment variables tried in order for the API key",
    )
    base_url: str | None = Field(
        None, description="API endpoint; default: $GOOGLE_GEMINI_BASE_URL or Google's"
    )
    api_version: str | None = Field(None, description="e.g. v1beta; default: the SDK's")


class LocalLLMSettings(Section):
    """The embedded llama.cpp model."""

    model_path: Path | None = Field(
        None, description="a GGUF file; default: the Qwen2.5-Coder-0.5B-Instruct that ships with va"
    )
    n_ctx: int = Field(4096, ge=512, le=131072, description="context window in tokens")
    n_threads: int | None = Field(None, ge=1, description="default: the number of CPU cores")


class ConversationSettings(Section):
    """How much of the conversation the LLM sees."""

    max_messages: int = Field(20, ge=2, le=1000)
    max_tokens: int = Field(32000, ge=256, description="history token budget")


#: Questions whose answer changes with time or chance: never answered from the reply cache.
DEFAULT_UNCACHEABLE_PATTERNS = [
    r"\b(time|clock|date|day|today|tonight|tomorrow|yesterday|now|current|currently)\b",
    r"\b(latest|recent|recently)\b",
    r"\b(this|next|last) (morning|evening|night|week|weekend|month|year)\b",
    r"\b(weather|forecast|temperature|rain|snow|news|headlines|score|scores|price|prices)\b",
    r"\b(stock|stocks|traffic|remind|reminder|timer|alarm|schedule|calendar|appointment)\b",
    r"\b(random|randomly|coin|dice|die|surprise)\b",
]


class PrebufferedResponse(Section):
    """A ready reply, said when the user's words match ``phrases`` or ``pattern``.

    Phrases are compared after normalisation (case, punctuation, fillers); a
    pattern is a regular expression that must match the whole normalised text.
    The reply may use ``{time}``, ``{date}``, ``{weekday}``, ``{year}`` and the
    pattern's groups (``{1}``, ``{name}``).
    """

    phrases: list[str] = Field(default_factory=list, description="exact phrases")
    pattern: str | None = Field(None, description="a regex matched against the normalised text")
    reply: str = Field(min_length=1)

    @model_validator(mode="after")
    def _check(self) -> PrebufferedResponse:
        from voice_agent_cli.buffer.templates import check_response

        check_response(self.phrases, self.pattern, self.reply)
        return self


class BufferSettings(Section):
    """Pre-buffered replies: answered before the cache and the LLM are asked."""

    enabled: bool = True
    custom: bool = Field(True, description="also use the replies added with `va cache add`")
    responses: list[PrebufferedResponse] = Field(default_factory=list)


class CacheSettings(Section):
    """The cache of earlier LLM replies (docs/cache.md has the caching rule)."""

    enabled: bool = True
    backend: Literal["disk", "redis"] = "disk"
    max_entries: int = Field(100, ge=1, le=10_000_000, description="LRU bound")
    ttl_s: float = Field(86400.0, gt=0, description="an entry expires this long after it is stored")
    directory: Path | None = Field(None, description="disk backend; default: VA_HOME/cache")
    redis_url: str = Field(
        "redis://localhost:6379/0", description="redis backend; env: VA_REDIS_URL"
    )
    redis_prefix: str = Field("va:cache", min_length=1, description="namespace of va's Redis keys")
    context: Literal["auto", "history", "none"] = Field(
        "auto",
        description="auto = follow-up questions are keyed on the recent history, others on "
        "their words; history = always; none = never",
    )
    context_messages: int = Field(6, ge=1, le=1000, description="history messages in a key")
    uncacheable_tools: list[str] = Field(
        default_factory=lambda: ["*"],
        description="glob patterns: a reply that used a matching tool is never cached",
    )
    uncacheable_patterns: list[str] = Field(
        default_factory=lambda: list(DEFAULT_UNCACHEABLE_PATTERNS),
        description="regexes searched in the normalised question: a match is never cached",
    )
    retry_after_s: float = Field(30.0, ge=0, description="wait before retrying a failed backend")

    @field_validator("uncacheable_patterns")
    @classmethod
    def _patterns_compile(cls, patterns: list[str]) -> list[str]:
        for pattern in patterns:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"not a valid regular expression {pattern!r}: {exc}") from None
        return patterns

    @field_serializer("redis_url", when_used="json")
    def _mask_password(self, url: str) -> str:
        from voice_agent_cli.buffer.urls import mask_url

        return mask_url(url)


class ExpertSettings(Section):
    """One advisor the agent may consult on complex questions."""

    name: str = Field(min_length=1)
    description: str = ""
    keywords: list[str] = Field(default_factory=list, description="domain words that route to it")
    system_prompt: str = Field(min_length=1)
    provider: Literal["main", "local", "gemini"] = Field(
        "main", description="main = the agent's own LLM"
    )
    model: str | None = Field(None, description="Gemini model, or GGUF path for local")
    timeout_s: float = Field(3.0, gt=0, le=120)
    max_output_tokens: int = Field(200, ge=16, le=4096)
    use_tools: bool = False


class ExpertsSettings(Section):
    """Complexity routing and parallel consultation of expert advisors."""

    enabled: bool = False
    advisors: list[ExpertSettings] = Field(default_factory=list)
    max_experts: int = Field(3, ge=1, le=10, description="advisors consulted per question")
    complex_min_words: int = Field(25, ge=1, description="a question this long is complex")
    triggers: list[str] = Field(
        default_factory=lambda: [
            "ask the experts",
            "ask your experts",
            "consult the experts",
            "expert opinion",
            "experts think",
            "advisors",
        ],
        description="phrases that always route to the experts",
    )
    classify_with_llm: bool = Field(False, description="ask the LLM whether a question is complex")
    validation: bool = Field(False, description="an expert checks the draft answer")
    validator: str | None = Field(None, description="advisor who validates; default: the first")
    validation_budget_s: float = Field(4.0, gt=0)
    investigation_triggers: list[str] = Field(
        default_factory=lambda: [
            "investigate",
            "research",
            "dig into",
            "in depth",
            "analyse",
            "analyze",
        ]
    )
    investigation_depth: int = Field(2, ge=1, le=5, description="follow-up steps at most")
    investigation_budget_s: float = Field(8.0, gt=0)

    @model_validator(mode="after")
    def _names_are_unique(self) -> ExpertsSettings:
        names = [advisor.name for advisor in self.advisors]
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"advisor names must be unique: {', '.join(duplicates)}")
        if self.validator is not None and self.validator not in names:
            raise ValueError(f"validator {self.validator!r} is not one of the advisors")
        return self


class BreakerSettings(Section):
    """When a circuit breaker opens, and how long it rests."""

    failure_threshold: int = Field(5, ge=1, le=1000)
    recovery_s: float = Field(30.0, gt=0)


class ResilienceSettings(Section):
    """Circuit breakers, LLM failover and degraded mode."""

    llm_breaker: BreakerSettings = Field(default_factory=lambda: BreakerSettings())
    mcp_breaker: BreakerSettings = Field(
        default_factory=lambda: BreakerSettings(failure_threshold=3, recovery_s=60.0)
    )
    expert_breaker: BreakerSettings = Field(
        default_factory=lambda: BreakerSettings(failure_threshold=5, recovery_s=120.0)
    )
    fallback: list[Literal["local", "gemini"]] = Field(
        default_factory=lambda: ["local"],  # type: ignore[arg-type]
        description="providers tried, in order, when the main LLM is down",
    )
    degraded_reply: str = (
        "Sorry, I can't reach my language model right now, so I can only answer simple "
        "questions. Please try again in a little while."
    )


class RateLimitSettings(Section):
    """Request limits (``limits`` rate strings such as "100/15 minutes")."""

    enabled: bool = True
    per_user: str = "100/15 minutes"
    per_ip: str = "1000/hour"
    concurrent_tool_calls_per_user: int = Field(10, ge=1)
    expert_consultations: str = "5/minute"

    @field_validator("per_user", "per_ip", "expert_consultations")
    @classmethod
    def _is_a_rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(f"not a rate such as '100/15 minutes': {value!r}") from None
        return value


class VoiceSettings(Section):
    """The voice loop of ``va talk`` (and ``va join``): devices, echo, barge-in."""

    input_device: str | None = Field(None, description="microphone: index or part of its name")
    output_device: str | None = Field(None, description="speaker: index or part of its name")
    echo: Literal["aec", "half-duplex", "off"] = Field(
        "aec",
        description="aec: cancel the agent's voice from the mic (WebRTC); half-duplex: "
        "ignore the mic while the agent speaks (no barge-in); off: headphones",
    )
    barge_in: bool = Field(True, description="the user speaking over the agent stops it")
    frame_ms: Literal[10, 20] = 20
    speculative_stt: bool = Field(True, description="transcribe during the end-of-turn silence")


class VADSettings(Section):
    """Voice activity detection (Silero) and end of turn."""

    threshold: float = Field(0.5, gt=0.0, lt=1.0, description="speech probability threshold")
    end_of_turn_silence_ms: int = Field(400, ge=100, le=5000, description="silence ending a turn")
    unfinished_silence_ms: int = Field(
        900, ge=100, le=5000, description="silence ending a turn whose words trail off"
    )
    min_speech_ms: int = Field(200, ge=0, le=5000, description="shorter speech is not a turn")
    start_ms: int = Field(64, ge=32, le=1000, description="speech that starts a turn/barge-in")
    pre_roll_ms: int = Field(300, ge=0, le=2000)
    max_turn_s: float = Field(30.0, gt=1.0, le=300.0)


class STTSettings(Section):
    """Speech to text."""

    engine: Literal["faster-whisper", "openai-whisper"] = "faster-whisper"
    model_path: Path | None = Field(
        None,
        description="faster-whisper: a CTranslate2 model dir (default: the bundled tiny.en); "
        "openai-whisper: a .pt file",
    )
    model: str = Field("tiny.en", description="openai-whisper model name (weights must exist)")
    language: str | None = Field("en", description="None: detect (multilingual models only)")
    beam_size: int = Field(5, ge=1, le=20)
    compute_type: str = Field("int8", description="CTranslate2 compute type on the CPU")
    cpu_threads: int | None = Field(None, ge=1, description="default: CTranslate2's choice")
    vad_filter: bool = Field(
        True, description="faster-whisper's own VAD pass (stops 'you' on noise)"
    )


class TTSSettings(Section):
    """Text to speech (piper)."""

    voice: Path | None = Field(None, description="a piper .onnx voice (default: en_US joe)")
    voice_config: Path | None = Field(None, description="its .onnx.json (default: beside it)")
    speed: float = Field(1.0, ge=0.5, le=2.0)
    cache_size: int = Field(128, ge=0, le=10000, description="short sentences kept synthesised")


class Profile(Section):
    """A whole agent configuration. Later subsystems add their own sections."""

    name: str = "default"
    description: str = ""
    llm: LLMSettings = Field(default_factory=lambda: LLMSettings())
    gemini: GeminiSettings = Field(default_factory=lambda: GeminiSettings())
    local: LocalLLMSettings = Field(default_factory=lambda: LocalLLMSettings())
    conversation: ConversationSettings = Field(default_factory=lambda: ConversationSettings())
    buffer: BufferSettings = Field(default_factory=lambda: BufferSettings())
    cache: CacheSettings = Field(default_factory=lambda: CacheSettings())
    experts: ExpertsSettings = Field(default_factory=lambda: ExpertsSettings())
    resilience: ResilienceSettings = Field(default_factory=lambda: ResilienceSettings())
    rate_limits: RateLimitSettings = Field(default_factory=lambda: RateLimitSettings())
    mcp: MCPSettings = Field(default_factory=lambda: MCPSettings())
    voice: VoiceSettings = Field(default_factory=lambda: VoiceSettings())
    vad: VADSettings = Field(default_factory=lambda: VADSettings())
    stt: STTSettings = Field(default_factory=lambda: STTSettings())
    tts: TTSSettings = Field(default_factory=lambda: TTSSettings())
    observability: ObservabilitySettings = Field(default_factory=lambda: ObservabilitySettings())
    bench: BenchSettings = Field(default_factory=lambda: BenchSettings())
    livekit: LiveKitSettings = Field(default_factory=lambda: LiveKitSettings())


#: Short environment variables for the settings people change most.
ENV_ALIASES: dict[str, str] = {
    "VA_LLM": "llm.provider",
    "VA_GEMINI_MODEL": "gemini.model",
    "VA_SYSTEM_PROMPT": "llm.system_prompt",
    "VA_LOCAL_MODEL": "local.model_path",
    "VA_REDIS_URL": "cache.redis_url",
    "VA_LOG_LEVEL": "observability.log_level",
    "VA_LOG_FORMAT": "observability.log_format",
    "VA_METRICS_PORT": "observability.metrics_port",
    "VA_OTEL": "observability.otel",
}


@dataclass(frozen=True)
class Secret:
    """A secret value read from the environment; it never prints itself."""

    value: str = field(repr=False)
    source: str

    def __str__(self) -> str:
        return f"<secret from ${self.source}>"

    __repr__ = __str__

    def masked(self) -> str:
        """A representation safe for any output: where it came from, never what it is."""
        return f"set (from ${self.source}, {len(self.value)} characters)"


@dataclass(frozen=True)
class Settings:
    """The effective configuration: a validated profile plus environment secrets."""

    profile: Profile
    source: str
    gemini_api_key: Secret | None = None

    @property
    def llm_provider(self) -> Literal["local", "gemini"]:
        """The provider that will answer, with ``auto`` resolved."""
        provider = self.profile.llm.provider
        if provider == "auto":
            return "gemini" if self.gemini_api_key else "local"
        return provider

    def describe(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets masked."""
        data = self.profile.model_dump(mode="json")
        return {
            "profile_source": self.source,
            "llm_provider": self.llm_provider,
            "secrets": {
                "gemini_api_key": self.gemini_api_key.masked() if self.gemini_api_key else "not set"
            },
            **data,
        }


def shipped_profiles() -> dict[str, Path]:
    """Profiles that ship with va, by name."""
    root = resources.files("voice_agent_cli") / "profiles"
    return {
        Path(str(entry)).stem: Path(str(entry))
        for entry in root.iterdir()
        if str(entry).endswith(".toml")
    }


def resolve_profile_path(
    profile: str | Path | None, environ: Mapping[str, str] | None = None
) -> Path:
    """Find a profile by name (shipped) or path; raise :class:`ConfigError` if absent.

    With no ``profile``, ``$VA_PROFILE`` names it, else ``default``.
    """
    environ = os.environ if environ is None else environ
    chosen = str(profile) if profile else environ.get("VA_PROFILE") or "default"
    as_path = Path(chosen).expanduser()
    if chosen.endswith(".toml") or os.sep in chosen:
        if not as_path.is_file():
            raise ConfigError(f"profile file not found: {as_path}")
        return as_path
    shipped = shipped_profiles()
    if chosen not in shipped:
        names = ", ".join(sorted(shipped))
        raise ConfigError(
            f"unknown profile {chosen!r} (shipped profiles: {names}; or give a .toml path)"
        )
    return shipped[chosen]


def shipped_advisors() -> list[dict[str, Any]]:
    """The expert advisors of the shipped ``experts`` profile, as plain data."""
    data = read_profile_file(shipped_profiles()["experts"])
    advisors: list[dict[str, Any]] = data.get("experts", {}).get("advisors", [])
    return advisors


def read_profile_file(path: Path) -> dict[str, Any]:
    """Parse a profile file, with errors that name the file."""
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: not valid TOML: {exc}") from None
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read: {exc.strerror}") from None


def env_overrides(environ: Mapping[str, str]) -> dict[str, tuple[str, Any]]:
    """Dotted keys set by ``VA_*`` variables, each with the variable's name."""
    found: dict[str, tuple[str, Any]] = {}
    for name, raw in environ.items():
        if name in ENV_ALIASES:
            found[ENV_ALIASES[name]] = (name, _parse_scalar(raw))
        elif name.startswith("VA_") and "__" in name and name != "VA_PROFILE":
            dotted = ".".join(part.lower() for part in name[3:].split("__"))
            found[dotted] = (name, _parse_scalar(raw))
    return found


def load_settings(
    profile: str | Path | None = None,
    overrides: Mapping[str, Any] | None = None,
    environ: Mapping[str, str] | None = None,
) -> Settings:
    """Build the effective settings: defaults < profile < ``VA_*`` env < ``overrides``.

    ``overrides`` holds the command-line flags as dotted keys
    (``{"llm.provider": "gemini"}``); ``None`` values are ignored so that a flag
    the user did not give never hides an environment variable.
    """
    environ = os.environ if environ is None else environ
    path = resolve_profile_path(profile, environ)
    data = read_profile_file(path)
    data.setdefault("name", path.stem)
    _validate(data, origin=str(path))
    for dotted, (variable, value) in sorted(env_overrides(environ).items()):
        _set_dotted(data, dotted, value)
        _validate(data, origin=f"environment variable {variable}")
    for dotted, value in (overrides or {}).items():
        if value is not None:
            _set_dotted(data, dotted, value)
            _validate(data, origin=f"option for {dotted}")
    validated = _validate(data, origin=str(path))
    return Settings(
        profile=validated,
        source=str(path),
        gemini_api_key=_find_secret(validated.gemini.api_key_env, environ),
    )


def _validate(data: dict[str, Any], origin: str) -> Profile:
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"{origin}: unknown key {key!r}") from None
        raise ConfigError(f"{origin}: bad value for {key!r}: {first['msg']}") from None


def _set_dotted(data: dict[str, Any], dotted: str, value: Any) -> None:
    *parents, leaf = dotted.split(".")
    node = data
    for part in parents:
        child = node.setdefault(part, {})
        if not isinstance(child, dict):
            raise ConfigError(f"cannot set {dotted!r}: {part!r} is not a section")
        node = child
    node[leaf] = value


def _parse_scalar(raw: str) -> Any:
    """Read an environment value as a TOML scalar when it is one, else as a string."""
    try:
        return tomllib.loads(f"v = {raw}")["v"]
    except tomllib.TOMLDecodeError:
        return raw


def _find_secret(names: list[str], environ: Mapping[str, str]) -> Secret | None:
    for name in names:
        value = environ.get(name, "").strip()
        if value:
            return Secret(value=value, source=name)
    return None

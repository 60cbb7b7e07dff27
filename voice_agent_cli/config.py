"""Profiles: the configuration of one va agent, and where each value comes from.

A profile is a TOML file. The ones shipped with va live in ``profiles/`` and
are chosen by name (``--profile gemini``); any other file is chosen by path
(``--profile ./mine.toml``). Every section and key is optional: what a file
leaves out takes the built-in default, so a profile may hold a single section.

Precedence, highest first: command-line flag > ``VA_*`` environment variable >
profile file > built-in default.

Environment variables: ``VA_<SECTION>__<KEY>`` sets any key (``VA_LLM__PROVIDER=local``,
``VA_GEMINI__MODEL=gemini-3.8-flash``); a few short aliases exist for the
common ones (see :data:`ENV_ALIASES`). Values are read as TOML scalars, so
``VA_LLM__TEMPERATURE=0.2`` is a float and ``VA_CACHE__ENABLED=false`` a bool.

Secrets never live in a profile: API keys are read from the environment
variables that the profile names (``gemini.api_key_env``, ``openai.api_key_env``).
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from pydantic import (
    Field,
    ValidationError,
)

from voice_agent_cli.bench.settings import BenchSettings
from voice_agent_cli.buffer.settings import BufferSettings, CacheSettings
from voice_agent_cli.contracts.secrets import Secret
from voice_agent_cli.core.settings import (
    ConversationSettings,
    ExpertsSettings,
    RateLimitSettings,
    ResilienceSettings,
)
from voice_agent_cli.errors import ConfigError
from voice_agent_cli.llm.settings import (
    GeminiSettings,
    LLMSettings,
    LocalLLMSettings,
    OpenAISettings,
)
from voice_agent_cli.masking import mask_value
from voice_agent_cli.observe.metrics.settings import ObservabilitySettings
from voice_agent_cli.privacy import PrivacySettings
from voice_agent_cli.providers.chain import llm_chain
from voice_agent_cli.rooms.settings import LiveKitSettings
from voice_agent_cli.rooms.worker.settings import ServeSettings
from voice_agent_cli.section import Section
from voice_agent_cli.sessions.settings import SessionSettings
from voice_agent_cli.speech.settings import STTSettings, TTSSettings, VADSettings, VoiceSettings
from voice_agent_cli.tools.settings import MCPSettings


class Profile(Section):
    """A whole agent configuration. Later subsystems add their own sections."""

    name: str = "default"
    description: str = ""
    llm: LLMSettings = Field(default_factory=lambda: LLMSettings())
    gemini: GeminiSettings = Field(default_factory=lambda: GeminiSettings())
    openai: OpenAISettings = Field(default_factory=lambda: OpenAISettings())
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
    serve: ServeSettings = Field(default_factory=lambda: ServeSettings())
    privacy: PrivacySettings = Field(default_factory=lambda: PrivacySettings())
    sessions: SessionSettings = Field(default_factory=lambda: SessionSettings())
    providers: dict[str, dict[str, Any]] = Field(
        default_factory=dict,
        description="each plugin provider's own settings, as [providers.<name>] tables",
    )


#: Short environment variables for the settings people change most.
ENV_ALIASES: dict[str, str] = {
    "VA_LLM": "llm.provider",
    "VA_GEMINI_MODEL": "gemini.model",
    "VA_OPENAI_MODEL": "openai.model",
    "VA_SYSTEM_PROMPT": "llm.system_prompt",
    "VA_LOCAL_MODEL": "local.model",
    "VA_REDIS_URL": "cache.redis_url",
    "VA_LOG_LEVEL": "observability.log_level",
    "VA_LOG_FORMAT": "observability.log_format",
    "VA_METRICS_PORT": "observability.metrics_port",
    "VA_OTEL": "observability.otel",
}


@dataclass(frozen=True)
class Settings:
    """The effective configuration: a validated profile plus environment secrets."""

    profile: Profile
    source: str
    gemini_api_key: Secret | None = None
    openai_api_key: Secret | None = None

    @property
    def llm_provider(self) -> str:
        """The provider that will answer first, with ``auto`` resolved."""
        return self.llm_chain[0]

    @property
    def llm_chain(self) -> list[str]:
        """The LLM providers that answer, in order (see :mod:`voice_agent_cli.providers.chain`)."""
        return llm_chain(self)

    def describe(self) -> dict[str, Any]:
        """The effective configuration as plain data, secrets masked.

        Sections mask the fields they know hold secrets (URLs, ``env``, ``args``);
        then anything anywhere that looks like a key or a URL with a password is.
        """
        data = mask_value(self.profile.model_dump(mode="json"))
        return {
            "profile_source": self.source,
            "llm_provider": self.llm_provider,
            "llm_chain": self.llm_chain,
            "secrets": {
                "gemini_api_key": _masked(self.gemini_api_key),
                "openai_api_key": _masked(self.openai_api_key),
            },
            **data,
        }


def _masked(secret: Secret | None) -> str:
    return secret.masked() if secret else "not set"


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
        openai_api_key=_find_secret(validated.openai.api_key_env, environ),
    )


def _validate(data: dict[str, Any], origin: str) -> Profile:
    try:
        return Profile.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        key = ".".join(str(part) for part in first["loc"]) or "(top level)"
        if first["type"] == "extra_forbidden":
            raise ConfigError(f"{origin}: unknown key {key!r}") from None
        message = str(first["msg"]).removeprefix("Value error, ")
        raise ConfigError(f"{origin}: bad value for {key!r}: {message}") from None


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

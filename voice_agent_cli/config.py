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
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from voice_agent_cli.errors import ConfigError

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


class Profile(Section):
    """A whole agent configuration. Later subsystems add their own sections."""

    name: str = "default"
    description: str = ""
    llm: LLMSettings = Field(default_factory=LLMSettings)
    gemini: GeminiSettings = Field(default_factory=GeminiSettings)
    local: LocalLLMSettings = Field(default_factory=LocalLLMSettings)
    conversation: ConversationSettings = Field(default_factory=ConversationSettings)


#: Short environment variables for the settings people change most.
ENV_ALIASES: dict[str, str] = {
    "VA_LLM": "llm.provider",
    "VA_GEMINI_MODEL": "gemini.model",
    "VA_SYSTEM_PROMPT": "llm.system_prompt",
    "VA_LOCAL_MODEL": "local.model_path",
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


def resolve_profile_path(profile: str | Path | None) -> Path:
    """Find a profile by name (shipped) or path; raise :class:`ConfigError` if absent."""
    chosen = str(profile) if profile else os.environ.get("VA_PROFILE") or "default"
    as_path = Path(chosen).expanduser()
    if chosen.endswith(".toml") or os.sep in chosen:
        if not as_path.is_file():
            raise ConfigError(f"profile file not found: {as_path}")
        return as_path
    shipped = shipped_profiles()
    if chosen not in shipped:
        names = ", ".join(sorted(shipped))
        raise ConfigError(f"unknown profile {chosen!r} (shipped profiles: {names}; or give a .toml path)")
    return shipped[chosen]


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
        elif name.startswith("VA_") and "__" in name:
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
    path = resolve_profile_path(profile)
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

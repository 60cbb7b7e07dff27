"""Profile sections of the LLM: which provider, how it is asked, Gemini, the local model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from voice_agent_cli.section import Section

#: Spoken replies: the answer first and in a few words (the first words reach the
#: speaker as soon as the first sentence ends, so a short one is heard sooner), then
#: at most two short sentences.
DEFAULT_SYSTEM_PROMPT = (
    "You are va, a helpful voice assistant running in a terminal. Your replies are spoken "
    "aloud: start with the answer itself, in a few words, then add at most two short "
    "sentences if they help. Plain words only: no markdown, lists or code unless asked. "
    "If you do not know something, say so briefly. "
    "Refuse, in one sentence, to help with weapons, violence or anything dangerous."
)


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
    turn_timeout_s: float = Field(
        60.0,
        gt=0,
        description="longest a turn waits for the LLM in all: retries, Retry-After waits "
        "and failover to a fallback provider included",
    )
    max_retries: int = Field(2, ge=0, le=10, description="retries of retryable errors")
    retry_base_delay_s: float = Field(0.5, ge=0)
    retry_max_delay_s: float = Field(
        8.0, ge=0, description="longest wait before a retry (backoff, or a server's Retry-After)"
    )
    max_tool_steps: int = Field(4, ge=0, le=20, description="LLM<->tool round trips per turn")
    tool_routing: Literal["rules", "model"] = Field(
        "rules",
        description="rules: va's rules pick the tool (or none) when they are sure, the model "
        "when not; model: the model always decides",
    )


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

    model: str | None = Field(
        None,
        description="a model of va's catalogue by name (qwen2.5-coder-0.5b, qwen2.5-coder-1.5b) "
        "or the path of any GGUF file; default: the catalogue's default",
    )
    n_ctx: int = Field(4096, ge=512, le=131072, description="context window in tokens")
    n_threads: int | None = Field(None, ge=1, description="default: the number of CPU cores")

    @field_validator("model")
    @classmethod
    def _known_model(cls, value: str | None) -> str | None:
        from voice_agent_cli.errors import ConfigError
        from voice_agent_cli.llm.catalogue import resolve_model

        try:
            resolve_model(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        return value

"""Profile sections of the LLM: which provider, how it is asked, Gemini, OpenAI-compatible
servers, the local model."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_serializer, field_validator

from voice_agent_cli.errors import ConfigError
from voice_agent_cli.llm.catalogue import resolve_model
from voice_agent_cli.masking import mask_mapping, mask_url
from voice_agent_cli.providers.registry import checked
from voice_agent_cli.section import Section

#: Gemini's default: the fastest current model, which thinks minimally by default.
#: (Retired models answer 404: va says so and names these current ones.)
DEFAULT_GEMINI_MODEL = "gemini-3.5-flash-lite"
#: The current Gemini models suited to voice, and the aliases that follow the newest
#: (what ``va providers`` lists; any other name the API serves works too).
GEMINI_MODELS = (
    DEFAULT_GEMINI_MODEL,
    "gemini-3.8-flash",
    "gemini-flash-lite-latest",
    "gemini-flash-latest",
)


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

    provider: str = Field(
        "auto",
        description="auto = Gemini when an API key is set, else the embedded local model "
        "(or the first usable provider of the chain); local, gemini, openai (any "
        "OpenAI-compatible server, [openai]) or an installed plugin's name (va providers)",
    )
    chain: list[str] = Field(
        default_factory=list,
        description='the failover chain, in order, e.g. ["gemini", "openai", "local"]: '
        "the first usable one answers, the next when it is down; a provider named by "
        "--llm goes first. Empty: provider, then [resilience] fallback",
    )
    system_prompt: str = DEFAULT_SYSTEM_PROMPT
    #: Low: the small embedded models drift off facts at higher temperatures
    #: (at 0.7 the 1.5B said "Three-six." for 15 percent of 240; at 0.2 "Thirty-six").
    temperature: float = Field(0.2, ge=0.0, le=2.0)
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

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        return value if value == "auto" else checked("llm", value)

    @field_validator("chain")
    @classmethod
    def _known_chain(cls, value: list[str]) -> list[str]:
        return [checked("llm", name) for name in value]


class GeminiSettings(Section):
    """Gemini through the google-genai SDK."""

    model: str = Field(
        DEFAULT_GEMINI_MODEL,
        description="e.g. gemini-3.5-flash-lite, gemini-3.8-flash, gemini-flash-latest",
    )
    thinking_level: Literal["minimal", "low", "medium", "high", "default"] = Field(
        "minimal",
        description="how much Gemini 3 models think before answering: minimal is the "
        "fastest (voice); default = the model's own",
    )
    thinking_budget: int | None = Field(
        None,
        ge=-1,
        description="thinking tokens, for models that take a budget instead of a level "
        "(0 = off, -1 = dynamic); when set it replaces thinking_level",
    )
    api_key_env: list[str] = Field(
        default_factory=lambda: ["GEMINI_API_KEY", "GOOGLE_API_KEY"],
        description="environment variables tried in order for the API key",
    )
    base_url: str | None = Field(
        None, description="API endpoint; default: $GOOGLE_GEMINI_BASE_URL or Google's"
    )
    api_version: str | None = Field(None, description="e.g. v1beta; default: the SDK's")


class OpenAISettings(Section):
    """Any OpenAI-compatible chat-completions server, through the openai SDK.

    Ollama, llama.cpp's server, vLLM, LM Studio, OpenAI, Groq... differ only
    in ``base_url``, ``model`` and whether a key is needed.
    """

    base_url: str | None = Field(
        None,
        description="the server's API root, e.g. http://127.0.0.1:11434/v1; "
        "default: $OPENAI_BASE_URL, else OpenAI's",
    )
    model: str = Field("gpt-5.4-mini", description="a model the server serves (its /v1/models)")
    api_key_env: list[str] = Field(
        default_factory=lambda: ["OPENAI_API_KEY"],
        description="environment variables tried in order for the API key; local servers need none",
    )
    headers: dict[str, str] = Field(
        default_factory=dict,
        description="extra HTTP headers; values may reference ${VARIABLES}",
    )
    organization: str | None = Field(None, description="OpenAI organization id (optional)")
    project: str | None = Field(None, description="OpenAI project id (optional)")
    context_window: int | None = Field(
        None,
        ge=512,
        description="the model's context in tokens: the history is kept within it",
    )
    tool_choice: str = Field(
        "auto",
        description="auto, required, none, or a tool's name: what the first step of a "
        "turn may do with the tools (later steps: auto)",
    )
    max_tokens_param: Literal["max_tokens", "max_completion_tokens"] = Field(
        "max_tokens",
        description="how the reply's length limit is sent: OpenAI's reasoning models "
        "take max_completion_tokens, most other servers max_tokens",
    )
    reasoning_effort: str | None = Field(
        None, description="for reasoning models (none, minimal, low...): sent only when set"
    )

    @field_serializer("headers", when_used="json")
    def _mask_headers(self, values: dict[str, str]) -> dict[str, str]:
        return mask_mapping(values)

    @field_serializer("base_url", when_used="json")
    def _mask_base_url(self, url: str | None) -> str | None:
        return mask_url(url) if url is not None else None


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
        try:
            resolve_model(value)
        except ConfigError as exc:
            raise ValueError(exc.message) from None
        return value

"""Profile sections of the agent core: history, experts, resilience, rate limits."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_serializer, field_validator, model_validator

from voice_agent_cli.masking import mask_url
from voice_agent_cli.providers.registry import checked
from voice_agent_cli.section import Section


class ConversationSettings(Section):
    """How much of the conversation the LLM sees."""

    max_messages: int = Field(20, ge=2, le=1000)
    max_tokens: int = Field(32000, ge=256, description="history token budget")


class ExpertSettings(Section):
    """One advisor the agent may consult on complex questions."""

    name: str = Field(min_length=1)
    description: str = ""
    keywords: list[str] = Field(default_factory=list, description="domain words that route to it")
    system_prompt: str = Field(min_length=1)
    provider: str = Field(
        "main", description="main = the agent's own LLM; else an LLM provider's name"
    )
    model: str | None = Field(
        None, description="a Gemini or OpenAI-compatible model name, or a GGUF path for local"
    )
    timeout_s: float = Field(3.0, gt=0, le=120)
    max_output_tokens: int = Field(200, ge=16, le=4096)
    use_tools: bool = False

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str) -> str:
        return value if value == "main" else checked("llm", value)


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
    fallback: list[str] = Field(
        default_factory=lambda: ["local"],
        description="providers tried, in order, when the main LLM is down "
        "(superseded by [llm] chain when that is set)",
    )
    degraded_reply: str = (
        "Sorry, I can't reach my language model right now, so I can only answer simple "
        "questions. Please try again in a little while."
    )

    @field_validator("fallback")
    @classmethod
    def _known_providers(cls, value: list[str]) -> list[str]:
        return [checked("llm", name) for name in value]


class RateLimitSettings(Section):
    """Request limits (``limits`` rate strings such as "100/15 minutes")."""

    enabled: bool = True
    per_user: str = "100/15 minutes"
    per_ip: str = "1000/hour"
    concurrent_tool_calls_per_user: int = Field(10, ge=1)
    expert_consultations: str = "5/minute"
    storage: Literal["auto", "memory", "redis"] = Field(
        "auto",
        description="where the counts live: memory = this process only; redis = shared by "
        "every process; auto = redis when the profile shares one ([cache] backend = "
        '"redis", or [rate_limits] redis_url)',
    )
    redis_url: str | None = Field(None, description="default: [cache] redis_url")
    redis_prefix: str = Field("va:limits", min_length=1, description="namespace of the Redis keys")
    retry_after_s: float = Field(
        30.0, ge=0, description="while the shared Redis is down, counts are this process's own"
    )

    @field_serializer("redis_url", when_used="json")
    def _mask_password(self, url: str | None) -> str | None:
        return mask_url(url) if url else url

    @field_validator("per_user", "per_ip", "expert_consultations")
    @classmethod
    def _is_a_rate(cls, value: str) -> str:
        from limits import parse

        try:
            parse(value)
        except ValueError:
            raise ValueError(f"not a rate such as '100/15 minutes': {value!r}") from None
        return value

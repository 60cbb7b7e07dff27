"""Profile sections of the response buffer: ``[buffer]`` and ``[cache]`` (docs/cache.md)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Literal

from pydantic import Field, field_serializer, field_validator, model_validator

from voice_agent_cli.buffer.templates import check_response
from voice_agent_cli.masking import mask_url
from voice_agent_cli.section import Section

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
        return mask_url(url)

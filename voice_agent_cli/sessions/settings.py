"""The ``[sessions]`` profile section: where conversations are kept, and for how long."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_serializer

from voice_agent_cli.masking import mask_url
from voice_agent_cli.section import Section


class SessionSettings(Section):
    """The session store (docs/sessions.md)."""

    enabled: bool = Field(True, description="false = conversations are not kept at all")
    backend: Literal["auto", "sqlite", "redis"] = Field(
        "auto",
        description='auto = redis when the profile shares one ([cache] backend = "redis", '
        "or [sessions] redis_url), else sqlite under VA_HOME",
    )
    path: Path | None = Field(None, description="sqlite file; default: VA_HOME/sessions.db")
    redis_url: str | None = Field(
        None, description="a Redis of the sessions' own; default: [cache] redis_url"
    )
    redis_prefix: str = Field(
        "va:sessions", min_length=1, description="namespace of the sessions' Redis keys"
    )
    expire_after_days: float = Field(
        30.0, ge=0, description="a session untouched this long is deleted; 0 = kept forever"
    )

    @field_serializer("redis_url", when_used="json")
    def _mask_password(self, url: str | None) -> str | None:
        return mask_url(url) if url else url

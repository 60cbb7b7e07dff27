"""Open the session store a profile asks for (every command's one entry)."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from voice_agent_cli.paths import va_home
from voice_agent_cli.sessions.redis_store import RedisSessionStore
from voice_agent_cli.sessions.sqlite_store import SQLiteSessionStore
from voice_agent_cli.shared_redis import redis_url_for

if TYPE_CHECKING:
    from voice_agent_cli.config import Profile
    from voice_agent_cli.sessions.store import SessionStore


def sessions_path(profile: Profile) -> Path:
    """The SQLite file: ``[sessions] path`` or ``VA_HOME/sessions.db``."""
    path = profile.sessions.path
    return path.expanduser() if path else va_home() / "sessions.db"


def store_redis_url(profile: Profile) -> str | None:
    """The Redis the sessions go to, or ``None`` for the SQLite file."""
    settings = profile.sessions
    choice = "local" if settings.backend == "sqlite" else settings.backend
    return redis_url_for(choice, settings.redis_url, profile)


def open_session_store(profile: Profile) -> SessionStore:
    """The store ``[sessions]`` names. Nothing is connected or opened until first used."""
    settings = profile.sessions
    url = store_redis_url(profile)
    if url is not None:
        return RedisSessionStore(
            url, prefix=settings.redis_prefix, expire_after_days=settings.expire_after_days
        )

    return SQLiteSessionStore(sessions_path(profile), expire_after_days=settings.expire_after_days)

"""Which Redis a profile shares between va processes.

Several ``va`` processes (on one machine or many) share state through one
Redis: the reply cache (``[cache] backend = "redis"``), the session store
(``[sessions]``) and the rate limits (``[rate_limits]``). A profile names its
Redis once, in ``[cache] redis_url`` (or ``$VA_REDIS_URL``); the other
sections follow it unless they name their own::

    [cache]
    backend = "redis"               # the profile shares a Redis ...
    redis_url = "redis://cache.internal:6379/0"

    [sessions]
    backend = "auto"                # ... so sessions go there too (or "sqlite", "redis")
    # redis_url = "redis://sessions.internal:6379/0"   # or a Redis of their own
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Literal

if TYPE_CHECKING:
    from redis.asyncio import Redis

    from voice_agent_cli.config import Profile

SharedChoice = Literal["auto", "local", "redis"]


def shared_redis_url(profile: Profile) -> str | None:
    """The Redis the profile shares, or ``None`` when it keeps its state local.

    A profile shares a Redis when its reply cache lives on one.
    """
    cache = profile.cache
    return cache.redis_url if cache.backend == "redis" else None


def redis_url_for(choice: SharedChoice, own_url: str | None, profile: Profile) -> str | None:
    """The Redis a section uses, or ``None`` for its local backend.

    ``choice`` is the section's backend: ``local`` (never Redis), ``redis``
    (its own ``redis_url``, else the cache's), or ``auto`` (Redis when it names
    one of its own or the profile shares one).
    """
    if choice == "local":
        return None
    if choice == "redis":
        return own_url or profile.cache.redis_url
    return own_url or shared_redis_url(profile)


def async_redis(url: str, *, connect_timeout_s: float, command_timeout_s: float) -> Redis:
    """A redis-py asyncio client with va's habits; :class:`ValueError` for a malformed URL.

    Timeouts are short and redis-py's own retries are limited to one immediate
    reconnect (which also heals pooled connections after a Redis restart), so a
    Redis that is down costs a caller at most about a second; replies are str.
    """
    from redis.asyncio import Redis
    from redis.asyncio.retry import Retry
    from redis.backoff import NoBackoff

    return Redis.from_url(
        url,
        socket_connect_timeout=connect_timeout_s,
        socket_timeout=command_timeout_s,
        retry=Retry(NoBackoff(), 1),
        decode_responses=True,
    )

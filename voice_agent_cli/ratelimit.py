"""Rate limits: requests per user and per IP, concurrent tool calls, expert consultations.

Windows are counted by the ``limits`` library (moving windows); concurrency
is a set of slots per user. A refused request raises
:class:`~voice_agent_cli.errors.RateLimited` with a message that says which
limit was hit and when to try again: never a crash, never a silent drop.

Where the counts live (``[rate_limits] storage``)::

    memory ─► this process only (the ``limits`` in-memory storage, a semaphore per user)
    redis  ─► every process that shares the Redis: ``limits``' Redis storage (its
              moving window is one Lua script, atomic across processes) and
              :class:`~voice_agent_cli.ratelimit_slots.RedisToolSlots` (leased slots)
    auto   ─► redis when the profile shares one, else memory

While the shared Redis cannot be reached, each process counts on its own (a
warning is logged) and tries Redis again after ``retry_after_s``: limits stay
in force, only per process, and a Redis outage never refuses a request.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from voice_agent_cli.errors import ConfigError, DependencyUnavailable, RateLimited
from voice_agent_cli.masking import mask_url
from voice_agent_cli.ratelimit_slots import RedisToolSlots
from voice_agent_cli.shared_redis import redis_url_for

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.strategies import MovingWindowRateLimiter

    from voice_agent_cli.config import Profile
    from voice_agent_cli.core.settings import RateLimitSettings

logger = logging.getLogger("va.ratelimit")

#: Socket timeouts (s) of the shared Redis: a check happens at the start of every turn.
CONNECT_TIMEOUT_S = 0.5
COMMAND_TIMEOUT_S = 0.5


def limits_redis_url(profile: Profile) -> str | None:
    """The Redis the profile's rate limits are counted in, or ``None`` (this process only)."""
    settings = profile.rate_limits
    choice = "local" if settings.storage == "memory" else settings.storage
    return redis_url_for(choice, settings.redis_url, profile)


def rate_limits_for(profile: Profile) -> RateLimits:
    """The rate limits ``[rate_limits]`` describes, shared when the profile says so."""
    return RateLimits(profile.rate_limits, redis_url=limits_redis_url(profile))


class RateLimits:
    """The limits of one agent process, configured by a profile's ``[rate_limits]``.

    With ``redis_url`` the counts are shared with every process that uses the
    same Redis and prefix.
    """

    def __init__(self, settings: RateLimitSettings, *, redis_url: str | None = None) -> None:
        from limits import parse
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.settings = settings
        # The synchronous in-memory storage: checks are microseconds and need no
        # background task (the asyncio storage starts one per process).
        self._local: MovingWindowRateLimiter = MovingWindowRateLimiter(MemoryStorage())
        self._shared: MovingWindowRateLimiter | None = None
        self._shared_slots: RedisToolSlots | None = None
        self._shared_down_until = 0.0
        self.location = "memory"
        if redis_url is not None and settings.enabled:
            self._open_shared(redis_url)
        self._per_user: RateLimitItem = parse(settings.per_user)
        self._per_ip: RateLimitItem = parse(settings.per_ip)
        self._experts: RateLimitItem = parse(settings.expert_consultations)
        self._tool_slots: dict[str, asyncio.Semaphore] = {}

    @property
    def enabled(self) -> bool:
        """False when the profile switched limits off."""
        return self.settings.enabled

    @property
    def shared(self) -> bool:
        """True when the counts live in a Redis shared with other processes."""
        return self._shared is not None

    def check_request(self, user: str, ip: str | None = None) -> None:
        """Count one request; raise :class:`RateLimited` if over a limit."""
        if not self.enabled:
            return
        self._hit(self._per_user, "user", user, f"{self.settings.per_user} per user")
        if ip is not None:
            self._hit(self._per_ip, "ip", ip, f"{self.settings.per_ip} per IP address")

    def allow_expert_consultation(self, user: str) -> bool:
        """Count one consultation of the experts; False when over the limit."""
        if not self.enabled:
            return True
        allowed, _ = self._count(self._experts, "experts", user)
        return allowed

    @asynccontextmanager
    async def tool_call_slot(self, user: str) -> AsyncIterator[None]:
        """Hold one of the user's concurrent tool-call slots (waits when all are busy)."""
        if not self.enabled:
            yield
            return
        if self._shared_slots is not None and self._shared_up():
            try:
                lease = await self._shared_slots.acquire(user)
            except DependencyUnavailable as exc:
                self._shared_failed(exc)
            else:
                try:
                    yield
                finally:
                    await self._shared_slots.release(lease)
                return
        slots = self._tool_slots.setdefault(
            user, asyncio.Semaphore(self.settings.concurrent_tool_calls_per_user)
        )
        async with slots:
            yield

    async def aclose(self) -> None:
        """Close the shared Redis connections, if any."""
        if self._shared_slots is not None:
            await self._shared_slots.aclose()
        if self._shared is not None:
            from limits.storage import RedisStorage

            storage = self._shared.storage
            if isinstance(storage, RedisStorage):
                storage.storage.close()

    # -- plumbing -------------------------------------------------------------------

    def _open_shared(self, url: str) -> None:
        from limits.storage import RedisStorage
        from limits.strategies import MovingWindowRateLimiter
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.location = mask_url(url)
        try:
            storage = RedisStorage(
                url,
                key_prefix=self.settings.redis_prefix,
                wrap_exceptions=True,
                socket_connect_timeout=CONNECT_TIMEOUT_S,
                socket_timeout=COMMAND_TIMEOUT_S,
                retry=Retry(NoBackoff(), 1),  # type: ignore[arg-type]
            )
        except ValueError as exc:
            raise ConfigError(f"rate_limits: bad Redis URL {self.location}: {exc}") from None
        self._shared = MovingWindowRateLimiter(storage)
        self._shared_slots = RedisToolSlots(
            url,
            prefix=self.settings.redis_prefix,
            limit=self.settings.concurrent_tool_calls_per_user,
        )

    def _shared_up(self) -> bool:
        return time.monotonic() >= self._shared_down_until

    def _limiter(self) -> MovingWindowRateLimiter:
        """The shared limiter while its Redis answers, else this process's own."""
        if self._shared is not None and self._shared_up():
            return self._shared
        return self._local

    def _shared_failed(self, exc: BaseException) -> None:
        self._shared_down_until = time.monotonic() + self.settings.retry_after_s
        reason = (str(exc).strip() or type(exc).__name__).splitlines()[0][:200]
        logger.warning(
            "rate limits: the shared Redis at %s failed (%s); counting in this process for %.0f s",
            self.location,
            reason,
            self.settings.retry_after_s,
        )

    def _hit(self, item: RateLimitItem, scope: str, key: str, described: str) -> None:
        allowed, reset_at = self._count(item, scope, key)
        if allowed:
            return
        wait = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(f"rate limit reached ({described}): try again in {wait} s")

    def _count(self, item: RateLimitItem, scope: str, key: str) -> tuple[bool, float]:
        """Count one hit: (allowed, when the window frees a place if not)."""
        from limits.errors import StorageError

        limiter = self._limiter()
        try:
            return _count_in(limiter, item, scope, key)
        except StorageError as exc:
            self._shared_failed(exc)
            return _count_in(self._local, item, scope, key)


def _count_in(
    limiter: MovingWindowRateLimiter, item: RateLimitItem, scope: str, key: str
) -> tuple[bool, float]:
    if limiter.hit(item, scope, key):
        return True, 0.0
    return False, limiter.get_window_stats(item, scope, key).reset_time

"""Rate limits: requests per user and per IP, concurrent tool calls, expert consultations.

Windows are counted by the ``limits`` library (moving windows, in memory);
concurrency is a semaphore per user. A refused request raises
:class:`~voice_agent_cli.errors.RateLimited` with a message that says which
limit was hit and when to try again: never a crash, never a silent drop.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from voice_agent_cli.errors import RateLimited

if TYPE_CHECKING:
    from limits import RateLimitItem
    from limits.strategies import MovingWindowRateLimiter

    from voice_agent_cli.core.settings import RateLimitSettings


class RateLimits:
    """The limits of one agent process, configured by a profile's ``[rate_limits]``."""

    def __init__(self, settings: RateLimitSettings) -> None:
        from limits import parse
        from limits.storage import MemoryStorage
        from limits.strategies import MovingWindowRateLimiter

        self.settings = settings
        # The synchronous in-memory storage: checks are microseconds and need no
        # background task (the asyncio storage starts one per process).
        self._limiter: MovingWindowRateLimiter = MovingWindowRateLimiter(MemoryStorage())
        self._per_user: RateLimitItem = parse(settings.per_user)
        self._per_ip: RateLimitItem = parse(settings.per_ip)
        self._experts: RateLimitItem = parse(settings.expert_consultations)
        self._tool_slots: dict[str, asyncio.Semaphore] = {}

    @property
    def enabled(self) -> bool:
        """False when the profile switched limits off."""
        return self.settings.enabled

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
        return self._limiter.hit(self._experts, "experts", user)

    @asynccontextmanager
    async def tool_call_slot(self, user: str) -> AsyncIterator[None]:
        """Hold one of the user's concurrent tool-call slots (waits when all are busy)."""
        if not self.enabled:
            yield
            return
        slots = self._tool_slots.setdefault(
            user, asyncio.Semaphore(self.settings.concurrent_tool_calls_per_user)
        )
        async with slots:
            yield

    def _hit(self, item: RateLimitItem, scope: str, key: str, described: str) -> None:
        if self._limiter.hit(item, scope, key):
            return
        reset_at = self._limiter.get_window_stats(item, scope, key).reset_time
        wait = max(1, math.ceil(reset_at - time.time()))
        raise RateLimited(f"rate limit reached ({described}): try again in {wait} s")

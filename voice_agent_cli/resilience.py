"""Retries with exponential backoff and jitter.

Only errors that say they are retryable (``LLMError.retryable``) are retried;
everything else fails at once. The sleep function is injectable so that tests
check the policy without waiting.
"""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how long to wait before trying again.

    The n-th retry (n from 0) waits a random time in
    ``[0, min(max_delay_s, base_delay_s * 2**n)]`` ("full jitter"), which keeps
    many clients from retrying in step.
    """

    max_retries: int = 2
    base_delay_s: float = 0.5
    max_delay_s: float = 8.0
    sleep: Callable[[float], Awaitable[None]] = field(default=asyncio.sleep, compare=False)
    rng: random.Random = field(default_factory=random.Random, compare=False)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before retry number ``attempt`` (0-based)."""
        ceiling = min(self.max_delay_s, self.base_delay_s * (2**attempt))
        return self.rng.uniform(0, ceiling)

    async def wait(self, attempt: int) -> None:
        """Sleep before retry number ``attempt``."""
        await self.sleep(self.delay(attempt))


NO_RETRY = RetryPolicy(max_retries=0)

"""How long to wait between reconnection attempts: exponential, jittered, capped.

Attempt ``n`` (from 1) waits ``min(cap, base * 2**(n-1))``, of which the
``jitter`` fraction is random ("equal jitter"): many agents dropped by the
same server restart do not all come back in the same instant, and no delay is
ever zero. The random source is injectable, so tests see exact delays.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from dataclasses import dataclass


@dataclass(frozen=True)
class ReconnectPolicy:
    """Delays between reconnection attempts, and how many attempts to make."""

    base_s: float = 0.5
    max_s: float = 15.0
    jitter: float = 0.5
    max_attempts: int = 10

    def delay(self, attempt: int, rand: Callable[[], float] = random.random) -> float:
        """Seconds to wait before attempt ``attempt`` (1, 2, ...)."""
        ceiling = min(self.max_s, self.base_s * 2 ** max(0, attempt - 1))
        fixed = ceiling * (1 - self.jitter)
        return fixed + ceiling * self.jitter * rand()

    def delays(self, rand: Callable[[], float] = random.random) -> Iterator[float]:
        """The delay before each attempt, for at most ``max_attempts`` attempts."""
        for attempt in range(1, self.max_attempts + 1):
            yield self.delay(attempt, rand)

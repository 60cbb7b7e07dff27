"""Retry policy: exponential backoff with full jitter, bounded."""

from __future__ import annotations

import random

from voice_agent_cli.resilience import RetryPolicy


def test_delays_grow_exponentially_and_are_capped() -> None:
    policy = RetryPolicy(max_retries=6, base_delay_s=0.5, max_delay_s=4.0, rng=random.Random(1))
    for attempt in range(6):
        ceiling = min(4.0, 0.5 * 2**attempt)
        samples = [policy.delay(attempt) for _ in range(200)]
        assert all(0 <= s <= ceiling for s in samples)
        # full jitter: the samples spread over the range rather than sitting at the ceiling
        assert max(samples) > ceiling * 0.8
        assert min(samples) < ceiling * 0.2


async def test_wait_uses_the_injected_sleep() -> None:
    slept: list[float] = []

    async def fake_sleep(seconds: float) -> None:
        slept.append(seconds)

    policy = RetryPolicy(base_delay_s=1.0, max_delay_s=1.0, sleep=fake_sleep, rng=random.Random(0))
    await policy.wait(0)
    await policy.wait(3)
    assert len(slept) == 2
    assert all(0 <= s <= 1.0 for s in slept)

"""Resilience: retry policy (backoff with full jitter) and circuit breakers."""

from __future__ import annotations

import random

import pytest

from voice_agent_cli.errors import CircuitOpenError
from voice_agent_cli.resilience import (
    BreakerPolicy,
    BreakerState,
    BreakerTransition,
    CircuitBreaker,
    CircuitBreakers,
    RetryPolicy,
)


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


# --- circuit breakers ---------------------------------------------------------------


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_breaker_opens_at_the_threshold_of_consecutive_failures() -> None:
    breaker = CircuitBreaker("llm", failure_threshold=3, recovery_s=30, clock=Clock())
    breaker.record_failure()
    breaker.record_failure()
    breaker.record_success()  # a success resets the count
    breaker.record_failure()
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()


def test_an_open_breaker_fails_fast_with_a_clear_message() -> None:
    clock = Clock()
    breaker = CircuitBreaker("llm:gemini", failure_threshold=1, recovery_s=30, clock=clock)
    breaker.record_failure()
    clock.now += 10
    with pytest.raises(CircuitOpenError, match=r"llm:gemini is unavailable.*next try in 20 s"):
        breaker.check()


def test_half_open_lets_exactly_one_trial_through() -> None:
    clock = Clock()
    breaker = CircuitBreaker("x", failure_threshold=1, recovery_s=30, clock=clock)
    breaker.record_failure()
    clock.now += 30
    assert breaker.state is BreakerState.HALF_OPEN
    assert breaker.allow()  # the trial
    assert not breaker.allow()  # nobody else while it runs
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def test_a_failed_trial_opens_the_breaker_again_for_a_full_rest() -> None:
    clock = Clock()
    breaker = CircuitBreaker("x", failure_threshold=1, recovery_s=30, clock=clock)
    breaker.record_failure()
    clock.now += 31
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    clock.now += 29
    assert breaker.state is BreakerState.OPEN
    clock.now += 1
    assert breaker.state is BreakerState.HALF_OPEN


def test_a_released_trial_frees_the_slot() -> None:
    clock = Clock()
    breaker = CircuitBreaker("x", failure_threshold=1, recovery_s=1, clock=clock)
    breaker.record_failure()
    clock.now += 1
    assert breaker.allow()
    breaker.release()  # cancelled: no verdict
    assert breaker.allow()


def test_transitions_are_events() -> None:
    clock = Clock()
    breakers = CircuitBreakers(clock=clock)
    seen: list[BreakerTransition] = []
    breakers.listen(seen.append)
    breaker = breakers.get("mcp:notes", BreakerPolicy(failure_threshold=2, recovery_s=60))
    assert breakers.get("mcp:notes", BreakerPolicy(9, 9)) is breaker  # one per name
    breaker.record_failure()
    breaker.record_failure()
    clock.now += 60
    assert breakers.states() == {"mcp:notes": BreakerState.HALF_OPEN}
    breaker.allow()
    breaker.record_success()
    assert [(t.old, t.new) for t in seen] == [
        (BreakerState.CLOSED, BreakerState.OPEN),
        (BreakerState.OPEN, BreakerState.HALF_OPEN),
        (BreakerState.HALF_OPEN, BreakerState.CLOSED),
    ]
    assert all(t.breaker == "mcp:notes" for t in seen)


def test_transitions_are_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = Clock()
    breaker = CircuitBreaker("llm:gemini", failure_threshold=1, recovery_s=5, clock=clock)
    with caplog.at_level("INFO", logger="va.resilience"):
        breaker.record_failure("LLMServerError")
        clock.now += 5
        breaker.allow()
        breaker.record_success()
    assert [(r.levelname, r.getMessage()) for r in caplog.records] == [
        (
            "WARNING",
            "circuit llm:gemini: closed -> open (1 consecutive failures, last: LLMServerError)",
        ),
        ("INFO", "circuit llm:gemini: open -> half_open (recovery time elapsed)"),
        ("INFO", "circuit llm:gemini: half_open -> closed (trial call succeeded)"),
    ]

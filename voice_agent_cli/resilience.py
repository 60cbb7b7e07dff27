"""Resilience: retries with backoff and jitter, and circuit breakers.

Only errors that say they are retryable (``LLMError.retryable``) are retried;
everything else fails at once. A circuit breaker stops calling a dependency
that keeps failing and tries it again after a rest. Clocks and sleeps are
injectable so that tests check the policies without waiting.
"""

from __future__ import annotations

import asyncio
import contextlib
import email.utils
import logging
import random
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from voice_agent_cli.errors import CircuitOpenError

_logger = logging.getLogger("va.resilience")


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

    def delay_after(self, attempt: int, retry_after_s: float | None) -> float | None:
        """Seconds to wait before retry ``attempt``, honouring a server's Retry-After.

        A server that says when to come back is believed, up to ``max_delay_s``:
        asking for longer means no retry at all (``None``), since retrying
        earlier than asked only earns another refusal.
        """
        if retry_after_s is None:
            return self.delay(attempt)
        if retry_after_s > self.max_delay_s:
            return None
        return max(0.0, retry_after_s)


NO_RETRY = RetryPolicy(max_retries=0)


def parse_retry_after(headers: Mapping[str, str] | None) -> float | None:
    """Seconds a server asked to wait, from its response headers, if it said.

    ``Retry-After`` in seconds or as an HTTP date (RFC 9110), and OpenAI's
    ``retry-after-ms``; header names are matched case-insensitively.
    """
    if not headers:
        return None
    found = {name.lower(): value for name, value in headers.items()}
    with contextlib.suppress(ValueError, TypeError):
        if "retry-after-ms" in found:
            return max(0.0, float(found["retry-after-ms"]) / 1000)
    value = found.get("retry-after")
    if value is None:
        return None
    with contextlib.suppress(ValueError):
        return max(0.0, float(value))
    with contextlib.suppress(ValueError, TypeError, IndexError):
        when = email.utils.parsedate_to_datetime(value)
        return max(0.0, when.timestamp() - time.time())
    return None


@dataclass(frozen=True)
class Deadline:
    """When a piece of work must be over: one turn's LLM time, or a provider's share of it.

    ``at`` is a :func:`time.monotonic` instant; ``what`` says the bound in words
    ("the turn's deadline of 60 s"), for the message that reports it.
    """

    at: float
    what: str
    clock: Callable[[], float] = field(default=time.monotonic, compare=False, repr=False)

    @classmethod
    def after(
        cls, seconds: float, *, key: str = "", clock: Callable[[], float] = time.monotonic
    ) -> Deadline:
        """A turn's deadline ``seconds`` from now (``key``: the setting that sets it)."""
        setting = f" ({key})" if key else ""
        return cls(clock() + seconds, f"the turn's deadline of {seconds:g} s{setting}", clock)

    def remaining(self) -> float:
        """Seconds left (0 once past)."""
        return max(0.0, self.at - self.clock())

    def share(self, parties: int) -> Deadline:
        """An even share of the time left, for the first of ``parties`` tried in turn.

        What the first does not use passes on to the next (their shares are
        taken later, from what is left then); the last gets all that remains.
        """
        if parties <= 1:
            return self
        seconds = self.remaining() / parties
        return Deadline(
            self.clock() + seconds, f"its {seconds:.0f} s share of {self.what}", self.clock
        )


# --- circuit breakers -----------------------------------------------------------


class BreakerState(StrEnum):
    """Where a circuit breaker stands."""

    CLOSED = "closed"  # calls go through; failures are counted
    OPEN = "open"  # calls are refused until the recovery time has passed
    HALF_OPEN = "half_open"  # one trial call decides: closed again, or open again


@dataclass(frozen=True)
class BreakerTransition:
    """A breaker changed state (an event for metrics, logs and the live view)."""

    breaker: str
    old: BreakerState
    new: BreakerState
    reason: str


TransitionListener = Callable[[BreakerTransition], None]


class CircuitBreaker:
    """Stops calling a dependency that keeps failing, and tries it again later.

    Closed: calls pass; ``failure_threshold`` consecutive failures open it.
    Open: calls are refused (fail fast) for ``recovery_s``. Half-open: exactly
    one trial call is let through; its success closes the breaker, its failure
    opens it again for another ``recovery_s``. The clock is injectable.
    """

    def __init__(
        self,
        name: str,
        *,
        failure_threshold: int = 5,
        recovery_s: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
        listeners: list[TransitionListener] | None = None,
    ) -> None:
        self.name = name
        self.failure_threshold = failure_threshold
        self.recovery_s = recovery_s
        self._clock = clock
        self._listeners = listeners if listeners is not None else []
        self._state = BreakerState.CLOSED
        self._failures = 0
        self._opened_at = 0.0
        self._trial_in_flight = False

    @property
    def state(self) -> BreakerState:
        """The current state (an open breaker turns half-open once it has rested)."""
        if self._state is BreakerState.OPEN and self._clock() - self._opened_at >= self.recovery_s:
            self._move(BreakerState.HALF_OPEN, "recovery time elapsed")
        return self._state

    @property
    def failures(self) -> int:
        """Consecutive failures counted so far."""
        return self._failures

    @property
    def trial_in_flight(self) -> bool:
        """True while the half-open trial call is running."""
        return self._trial_in_flight

    def retry_in(self) -> float:
        """Seconds until an open breaker lets a trial call through (0 if not open)."""
        if self.state is not BreakerState.OPEN:
            return 0.0
        return max(0.0, self.recovery_s - (self._clock() - self._opened_at))

    def allow(self) -> bool:
        """May a call go through now? In half-open, only one trial at a time."""
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self._trial_in_flight:
            self._trial_in_flight = True
            return True
        return False

    def check(self) -> None:
        """Like :meth:`allow`, but raise :class:`CircuitOpenError` when refused."""
        if not self.allow():
            raise CircuitOpenError(
                f"{self.name} is unavailable (circuit open after {self.failure_threshold} "
                f"failures; next try in {self.retry_in():.0f} s)"
            )

    def record_success(self) -> None:
        """A call succeeded: close the breaker and forget past failures."""
        self._trial_in_flight = False
        self._failures = 0
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED, "trial call succeeded")

    def record_failure(self, reason: str = "failure") -> None:
        """A call failed: count it, and open the breaker at the threshold."""
        self._trial_in_flight = False
        self._failures += 1
        if self._state is BreakerState.HALF_OPEN:
            self._open(f"trial call failed: {reason}")
        elif self._state is BreakerState.CLOSED and self._failures >= self.failure_threshold:
            self._open(f"{self._failures} consecutive failures, last: {reason}")

    def reset(self, reason: str) -> None:
        """Start afresh (e.g. a restarted server process): closed, no failures counted."""
        self._trial_in_flight = False
        self._failures = 0
        if self._state is not BreakerState.CLOSED:
            self._move(BreakerState.CLOSED, reason)

    def release(self) -> None:
        """A call ended without telling anything about the dependency (e.g. cancelled)."""
        self._trial_in_flight = False

    def _open(self, reason: str) -> None:
        self._opened_at = self._clock()
        self._move(BreakerState.OPEN, reason)

    def _move(self, new: BreakerState, reason: str) -> None:
        old, self._state = self._state, new
        if old is not new:
            level = logging.WARNING if new is BreakerState.OPEN else logging.INFO
            _logger.log(
                level,
                "circuit %s: %s -> %s (%s)",
                self.name,
                old.value,
                new.value,
                reason,
                extra={"circuit": self.name, "state": new.value},
            )
            transition = BreakerTransition(self.name, old, new, reason)
            for listener in list(self._listeners):
                listener(transition)


@dataclass(frozen=True)
class BreakerPolicy:
    """Threshold and recovery time of one kind of breaker."""

    failure_threshold: int
    recovery_s: float


class CircuitBreakers:
    """Every breaker of one agent, by name, with one place to listen to transitions."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}
        self._listeners: list[TransitionListener] = []

    def get(self, name: str, policy: BreakerPolicy) -> CircuitBreaker:
        """The breaker called ``name``, created with ``policy`` on first use."""
        if name not in self._breakers:
            self._breakers[name] = CircuitBreaker(
                name,
                failure_threshold=policy.failure_threshold,
                recovery_s=policy.recovery_s,
                clock=self._clock,
                listeners=self._listeners,
            )
        return self._breakers[name]

    def listen(self, listener: TransitionListener) -> None:
        """Call ``listener`` on every transition of every breaker."""
        self._listeners.append(listener)

    def states(self) -> dict[str, BreakerState]:
        """Name to current state, for health views."""
        return {name: breaker.state for name, breaker in sorted(self._breakers.items())}

    def __iter__(self) -> Iterator[CircuitBreaker]:
        return iter(list(self._breakers.values()))

"""The health of one MCP server: its state, and the failure counter behind it.

States, as ``va tools health`` shows them:

- ``up``: connected, and the latest call (if any) worked;
- ``degraded``: connected, but recent calls failed or timed out;
- ``down``: not connected (never started, crashed, or missing); va restarts it
  with backoff;
- ``circuit open``: so many calls failed in a row that calls are refused
  without trying, for a while; then one trial call decides.

The circuit is the shared :class:`~voice_agent_cli.resilience.CircuitBreaker`
(one implementation for the LLM, MCP servers and experts); this class adds what
only a server has: its connection, restarts and timings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from voice_agent_cli.resilience import BreakerState, CircuitBreaker


class HealthState(StrEnum):
    """What a server's health looks like from va."""

    STARTING = "starting"
    UP = "up"
    DEGRADED = "degraded"
    DOWN = "down"
    CIRCUIT_OPEN = "circuit open"
    DISABLED = "disabled"


@dataclass
class ServerHealth:
    """Counters and timestamps of one server; :attr:`state` is derived from them."""

    breaker: CircuitBreaker = field(
        default_factory=lambda: CircuitBreaker("mcp", failure_threshold=3, recovery_s=60.0)
    )
    connected: bool = False
    attempted: bool = False
    last_error: str | None = None
    calls: int = 0
    failures: int = 0
    restarts: int = 0
    startup_ms: float | None = None
    probe_ms: float | None = None
    next_restart_in_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def state(self) -> HealthState:
        """The server's state now."""
        circuit = self.breaker.state
        if circuit is BreakerState.OPEN or (
            circuit is BreakerState.HALF_OPEN and self.breaker.trial_in_flight
        ):
            return HealthState.CIRCUIT_OPEN
        if not self.connected:
            return HealthState.DOWN if self.attempted else HealthState.STARTING
        if self.breaker.failures:
            return HealthState.DEGRADED
        return HealthState.UP

    @property
    def consecutive_failures(self) -> int:
        """Failures in a row, as the breaker counts them."""
        return self.breaker.failures

    def admit(self) -> bool:
        """May a call go to the server now? (After the cool-down, one trial call may.)"""
        return self.breaker.allow()

    def retry_in_s(self) -> float:
        """Seconds until an open circuit lets a trial call through."""
        return self.breaker.retry_in()

    def record_success(self, *, call: bool = True) -> None:
        """A call (or a probe) got an answer from the server, even a tool-level error."""
        self.calls += call
        self.breaker.record_success()

    def record_failure(self, reason: str, *, call: bool = True) -> None:
        """A call (or a probe) failed on the server's side: timeout, lost connection, garbage."""
        self.calls += call
        self.failures += call
        self.last_error = reason
        self.breaker.record_failure(reason)

    def record_connected(self, startup_ms: float) -> None:
        """A (re)start worked.

        The breaker keeps its count: a server that crashes on every call and is
        restarted each time is failing in a row, and its circuit must open. Only
        a call that works (or the breaker's trial call) closes it again.
        """
        if self.attempted and self.connected is False and self.startup_ms is not None:
            self.restarts += 1
        self.attempted = True
        self.connected = True
        self.startup_ms = round(startup_ms, 1)
        self.next_restart_in_s = None

    def record_slow_start(self, reason: str) -> None:
        """The first start is taking longer than its timeout: down, for ``reason``."""
        if not self.connected:
            self.attempted = True
            self.last_error = reason

    def record_disconnected(self, reason: str, *, retry_in_s: float | None) -> None:
        """The server could not start, or its connection ended."""
        self.attempted = True
        self.connected = False
        self.last_error = reason
        self.next_restart_in_s = retry_in_s

"""A server's health: the states va tools health shows, driven by a hand-moved clock."""

from __future__ import annotations

from tests.buffer_helpers import FakeClock
from voice_agent_cli.resilience import CircuitBreaker
from voice_agent_cli.tools.health import HealthState, ServerHealth


def health(clock: FakeClock) -> ServerHealth:
    breaker = CircuitBreaker("mcp:test", failure_threshold=3, recovery_s=30.0, clock=clock)
    return ServerHealth(breaker)


def test_states_from_start_to_circuit_open_and_back() -> None:
    clock = FakeClock()
    h = health(clock)
    assert h.state == HealthState.STARTING
    h.record_connected(420.0)
    assert h.state == HealthState.UP
    h.record_failure("timed out")
    assert h.state == HealthState.DEGRADED
    h.record_success()
    assert h.state == HealthState.UP
    for _ in range(3):
        assert h.admit()
        h.record_failure("timed out")
    assert h.state == HealthState.CIRCUIT_OPEN
    assert not h.admit()
    assert h.retry_in_s() == 30.0
    clock.advance(31)
    assert h.state == HealthState.DEGRADED
    assert h.admit()  # the trial call
    assert h.state == HealthState.CIRCUIT_OPEN  # ... and no other while it runs
    assert not h.admit()
    h.record_failure("timed out again")
    assert h.state == HealthState.CIRCUIT_OPEN
    clock.advance(31)
    assert h.admit()
    h.record_success()
    assert h.state == HealthState.UP
    assert (h.calls, h.failures) == (7, 5)


def test_down_restarts_and_counts() -> None:
    h = health(FakeClock())
    h.record_disconnected("command not found: x", retry_in_s=0.5)
    assert h.state == HealthState.DOWN
    h.record_connected(300.0)  # a late first start is not a restart
    assert h.restarts == 0
    h.record_failure("the connection to the server was lost")
    h.record_disconnected("the server closed the connection", retry_in_s=0.5)
    assert h.state == HealthState.DOWN
    h.record_connected(310.0)
    assert h.restarts == 1
    # Failures count across restarts (a server that crashes on every call must open
    # its circuit): degraded until a call works again.
    assert h.state == HealthState.DEGRADED
    assert h.consecutive_failures == 1
    assert h.next_restart_in_s is None
    h.record_success()
    assert h.state == HealthState.UP

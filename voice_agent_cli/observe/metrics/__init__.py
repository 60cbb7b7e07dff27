"""Metrics: one place every layer reports into, and every export reads from.

Report from anywhere (voice, rooms, tools, breakers) without holding a reference::

    from voice_agent_cli.observe import metrics

    metrics.observe("tts_ttfb", 84.2)                  # a latency sample, in ms
    metrics.increment("errors", type="LLMTimeout")     # a counter with labels
    metrics.set_gauge("participants", 3, room="demo")  # a gauge
    metrics.circuit("mcp:notes", "open", "3 failures") # a breaker's state
    breakers.listen(metrics.current().breaker_transition)

These go to the *current* registry: the process-wide one, or the one a test or
a benchmark installed with :func:`use`. Agent turns are measured by one
observer (:func:`voice_agent_cli.observe.turns.instrument`, done by
``compose.agent.open_agent``), from the timings the agent puts on its events.

Exports: :meth:`Metrics.as_json` (JSON), :mod:`.prometheus` (``--metrics-port``),
and the OpenTelemetry bridge in :mod:`voice_agent_cli.observe.tracing`. Only the
standard library is imported here.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

from voice_agent_cli.observe.metrics.histogram import LogHistogram, exact_percentile
from voice_agent_cli.observe.metrics.registry import (
    DEFAULT_PERCENTILES,
    MetricEvent,
    Metrics,
    MetricsSink,
    summarize,
)

__all__ = [
    "DEFAULT_PERCENTILES",
    "LogHistogram",
    "MetricEvent",
    "Metrics",
    "MetricsSink",
    "circuit",
    "current",
    "event",
    "exact_percentile",
    "increment",
    "observe",
    "set_gauge",
    "summarize",
    "use",
]

_PROCESS = Metrics()
_CURRENT: ContextVar[Metrics | None] = ContextVar("va_metrics", default=None)


def current() -> Metrics:
    """The registry reports go to in this context (the process-wide one by default)."""
    return _CURRENT.get() or _PROCESS


@contextmanager
def use(metrics: Metrics) -> Iterator[Metrics]:
    """Send the reports made in this context (and tasks started from it) to ``metrics``."""
    token = _CURRENT.set(metrics)
    try:
        yield metrics
    finally:
        _CURRENT.reset(token)


def observe(stage: str, milliseconds: float) -> None:
    """Record a latency sample of ``stage`` (ms) in the current registry."""
    current().observe(stage, milliseconds)


def increment(name: str, amount: float = 1, **labels: object) -> None:
    """Add to a counter of the current registry."""
    current().increment(name, amount, **labels)


def set_gauge(name: str, value: float, **labels: object) -> None:
    """Set a gauge of the current registry."""
    current().set_gauge(name, value, **labels)


def circuit(name: str, state: str, reason: str = "") -> None:
    """Report the state of a circuit breaker to the current registry."""
    current().circuit(name, state, reason)


def event(message: str, *, kind: str = "info") -> None:
    """Add a line to the live view's recent events."""
    current().event(message, kind=kind)

"""Metrics: one registry per command, which every layer reports into and every export reads.

A layer reports into the :class:`Metrics` it was handed (the agent, a room, an
LLM through ``report_to``, the audio devices' xrun counter)::

    registry.observe("tts_ttfb", 84.2)                  # a latency sample, in ms
    registry.increment("errors", type="LLMTimeout")     # a counter with labels
    registry.set_gauge("participants", 3, room="demo")  # a gauge
    registry.circuit("mcp:notes", "open", "3 failures") # a breaker's state
    breakers.listen(registry.breaker_transition)

Only the entry points (the commands in ``cli/``, ``compose.agent.open_agent``,
``va bench``) ask which registry is in force, with :func:`current`: the
process-wide one, or the one a benchmark or a test installed with :func:`use`.
Agent turns are measured by one observer (:func:`voice_agent_cli.observe.turns.instrument`, done by
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
    "current",
    "exact_percentile",
    "summarize",
    "use",
]

_PROCESS = Metrics()
_CURRENT: ContextVar[Metrics | None] = ContextVar("va_metrics", default=None)


def current() -> Metrics:
    """The registry in force in this context (the process-wide one by default).

    For entry points only: they hand it down; the layers below report into what they were given.
    """
    return _CURRENT.get() or _PROCESS


@contextmanager
def use(metrics: Metrics) -> Iterator[Metrics]:
    """Make ``metrics`` the registry in force in this context (and tasks started from it)."""
    token = _CURRENT.set(metrics)
    try:
        yield metrics
    finally:
        _CURRENT.reset(token)

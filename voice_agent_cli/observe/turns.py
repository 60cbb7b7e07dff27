"""The agent observer: turns the events of every turn into metrics, logs and spans.

The agent already timestamps its stages (``TurnCompleted.timings``); this one
observer reads them, so no component sprinkles clock calls for metrics. Per
completed turn it:

- observes every timing as a stage (``buffer_lookup``, ``llm_ttft``,
  ``tool_time``, ``total``, and whatever a layer adds such as ``e2e_latency``);
- counts the turn by source, the buffer lookup as a hit or miss per layer,
  expert consultations, and the session's messages;
- logs the turn on ``va.turn`` (INFO: source and timings; DEBUG: the words,
  which the log redaction cleans of personal data);
- when OpenTelemetry is on, records the turn's spans (see :mod:`voice_agent_cli.observe.tracing`).
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Protocol

from voice_agent_cli.contracts.events import (
    Notice,
    ToolCallFinished,
    ToolCallStarted,
    TurnCompleted,
    TurnEvent,
)
from voice_agent_cli.observe import ids, tracing

if TYPE_CHECKING:
    from voice_agent_cli.observe.metrics.registry import Metrics

logger = logging.getLogger("va.turn")


class Observable(Protocol):
    """Something whose turns can be watched: the agent."""

    def add_observer(self, observer: Callable[[TurnEvent], None]) -> None: ...


def instrument(agent: Observable, metrics: Metrics) -> TurnMetricsObserver:
    """Measure every turn of ``agent`` into ``metrics``."""
    observer = TurnMetricsObserver(metrics)
    agent.add_observer(observer)
    return observer


class TurnMetricsObserver:
    """An :data:`~voice_agent_cli.core.agent.TurnObserver` that feeds :class:`Metrics`."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics
        # Tool calls of turns still running, by turn id (turns may run concurrently).
        self._tool_spans: dict[str, list[tracing.ToolSpan]] = {}

    def __call__(self, event: TurnEvent) -> None:
        try:
            self._observe(event)
        except Exception:
            # Metrics must never break a turn: a bug here is logged, the turn goes on.
            logger.warning("the metrics observer failed on %s", type(event).__name__, exc_info=True)

    def _observe(self, event: TurnEvent) -> None:
        if isinstance(event, TurnCompleted):
            self._completed(event)
        elif isinstance(event, ToolCallFinished):
            self._tool_finished(event)
        elif isinstance(event, ToolCallStarted):
            logger.debug("calling tool %s", event.call.name, extra={"tool": event.call.name})
        elif isinstance(event, Notice):
            self.metrics.increment("notices", level=event.level)
            self.metrics.event(event.message, kind="notice")
            # INFO, not WARNING: the command already shows notices to the user.
            logger.info("notice: %s", event.message, extra={"notice_level": event.level})

    def _tool_finished(self, event: ToolCallFinished) -> None:
        status = "error" if event.result.is_error else "ok"
        self.metrics.increment("tool_calls", tool=event.call.name, status=status)
        self.metrics.observe("tool_call", event.duration_ms)
        self.metrics.event(
            f"tool {event.call.name} {status} in {event.duration_ms:.0f} ms", kind="tool"
        )
        logger.info(
            "tool %s finished (%s, %.1f ms)",
            event.call.name,
            status,
            event.duration_ms,
            extra={"tool": event.call.name, "status": status, "duration_ms": event.duration_ms},
        )
        logger.debug(
            "tool %s arguments and result",
            event.call.name,
            extra={"arguments": event.call.arguments, "result": event.result.text[:500]},
        )
        if tracing.enabled():
            turn = ids.TURN_ID.get() or ""
            self._tool_spans.setdefault(turn, []).append(
                tracing.ToolSpan(
                    event.call.name, time.time_ns(), event.duration_ms, event.result.is_error
                )
            )

    def _completed(self, turn: TurnCompleted) -> None:
        metrics = self.metrics
        for stage, milliseconds in turn.timings.items():
            metrics.observe(stage, milliseconds)
        metrics.increment("turns", source=turn.source)
        if turn.llm:
            # The LLM that really wrote the reply (a fallback's name during a failover).
            metrics.increment("replies_by_llm", llm=turn.llm)
        if turn.interrupted:
            metrics.increment("interrupted_turns")
        if "buffer_lookup" in turn.timings:
            self._count_lookup(turn)
        experts = turn.details.get("experts")
        if turn.source == "experts" or experts:
            consulted = len(experts) if isinstance(experts, list | tuple | dict) else 1
            metrics.increment("expert_consultations", consulted)
        metrics.session_message(ids.SESSION_ID.get())
        metrics.record_turn(
            {
                "turn_id": turn.turn_id,
                "source": turn.source,
                "llm": turn.llm,
                "timings": dict(turn.timings),
                "tool_calls": list(turn.tool_calls),
            }
        )
        total = turn.timings.get("total")
        shown = f"{total:.0f} ms" if total is not None else "?"
        by = f" by {turn.llm}" if turn.llm else ""
        metrics.event(f"turn {turn.turn_id}: {turn.source}{by}, {shown}", kind="turn")
        logger.info(
            "turn completed (%s%s, %s)",
            turn.source,
            by,
            shown,
            extra={
                "source": turn.source,
                "llm": turn.llm,
                "timings": turn.timings,
                "tool_calls": list(turn.tool_calls),
                "interrupted": turn.interrupted,
            },
        )
        logger.debug("turn text", extra={"user_text": turn.user_text, "reply": turn.reply})
        tools = self._tool_spans.pop(ids.TURN_ID.get() or "", [])
        if tracing.enabled():
            tracing.record_turn(turn, tools)

    def _count_lookup(self, turn: TurnCompleted) -> None:
        """A lookup tries the pre-buffered replies, then the cache: count each layer."""
        metrics = self.metrics
        metrics.increment("buffer_lookups")
        if turn.source == "prebuffered":
            metrics.increment("cache_hits", layer="prebuffered")
            return
        metrics.increment("cache_misses", layer="prebuffered")
        if turn.source == "cache":
            metrics.increment("cache_hits", layer="cache")
        else:
            metrics.increment("cache_misses", layer="cache")

"""The metrics of one va process: stage latencies, counters, gauges, sessions, circuits.

:class:`Metrics` is the one place every layer reports into, by name:

- ``observe(stage, ms)``: a latency sample (``llm_ttft``, ``tts_ttfb``,
  ``e2e_latency`` ...), kept in a :class:`~.histogram.LogHistogram` per stage;
- ``increment(name, **labels)``: a counter (``turns``, ``cache_hits``,
  ``tool_calls``, ``errors`` ...), one series per label set;
- ``set_gauge(name, value, **labels)``: a value that goes up and down;
- ``circuit(name, state)``: the state of a breaker (LLM, an MCP server, an expert);
- ``event(message)``: a line for the live view's "recent events";
- ``session_started/ended``: business metrics (active sessions, messages per
  session, session duration).

It is thread-safe (speech runs in worker threads) and cheap: a report is a
dict update under a lock. Exports (JSON here, Prometheus and OpenTelemetry in
their own modules) read :meth:`Metrics.as_json` or the raw series; sinks added
with :meth:`Metrics.add_sink` see every sample as it happens.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from voice_agent_cli.observe.metrics.histogram import LogHistogram

#: Label sets are stored sorted, so ``a=1, b=2`` and ``b=2, a=1`` are one series.
Labels = tuple[tuple[str, str], ...]

#: Percentiles in every summary.
DEFAULT_PERCENTILES = (50, 95, 99)

#: Layers of the response buffer, in lookup order.
CACHE_LAYERS = ("prebuffered", "cache")


def labels_of(labels: Mapping[str, object]) -> Labels:
    """A label mapping as a sorted tuple of string pairs."""
    return tuple(sorted((str(key), str(value)) for key, value in labels.items()))


class MetricsSink(Protocol):
    """Sees every sample as it is reported (the OpenTelemetry bridge is one)."""

    def observe(self, stage: str, milliseconds: float, labels: Labels) -> None: ...

    def increment(self, name: str, amount: float, labels: Labels) -> None: ...


@dataclass(frozen=True)
class MetricEvent:
    """One line of the "recent events" panel."""

    at: float  # wall clock, seconds since the epoch
    kind: str  # turn, notice, tool, circuit, error, session, info
    message: str

    def as_json(self) -> dict[str, Any]:
        return {"at": round(self.at, 3), "kind": self.kind, "message": self.message}


@dataclass
class CircuitState:
    """The last reported state of one circuit breaker."""

    state: str
    reason: str = ""
    since: float = field(default_factory=time.time)


@dataclass
class _Session:
    kind: str
    started: float
    messages: int = 0


EventListener = Callable[[MetricEvent], None]


class Metrics:
    """Every metric of one process (or of one benchmark run)."""

    def __init__(self, *, recent_events: int = 50, clock: Callable[[], float] = time.time) -> None:
        self._lock = threading.RLock()
        self._clock = clock
        self._stages: dict[str, LogHistogram] = {}
        self._distributions: dict[str, LogHistogram] = {}
        self._counters: dict[tuple[str, Labels], float] = {}
        self._gauges: dict[tuple[str, Labels], float] = {}
        self._circuits: dict[str, CircuitState] = {}
        self._sessions: dict[str, _Session] = {}
        self._events: deque[MetricEvent] = deque(maxlen=recent_events)
        self._last_turn: dict[str, Any] | None = None
        self._sinks: list[MetricsSink] = []
        self._listeners: list[EventListener] = []
        self.started = clock()

    # -- reporting ---------------------------------------------------------------------

    def observe(self, stage: str, milliseconds: float) -> None:
        """Record one latency sample of ``stage`` in milliseconds."""
        milliseconds = max(0.0, float(milliseconds))
        with self._lock:
            histogram = self._stages.get(stage)
            if histogram is None:
                histogram = self._stages[stage] = LogHistogram()
            histogram.add(milliseconds)
            sinks = list(self._sinks)
        for sink in sinks:
            sink.observe(stage, milliseconds, ())

    def record(self, name: str, value: float) -> None:
        """Record a sample of a distribution that is not a latency (messages per session)."""
        with self._lock:
            histogram = self._distributions.get(name)
            if histogram is None:
                histogram = self._distributions[name] = LogHistogram()
            histogram.add(max(0.0, float(value)))

    def increment(self, name: str, amount: float = 1, **labels: object) -> None:
        """Add ``amount`` to the counter ``name`` with these labels."""
        key = (name, labels_of(labels))
        with self._lock:
            self._counters[key] = self._counters.get(key, 0) + amount
            sinks = list(self._sinks)
        for sink in sinks:
            sink.increment(name, amount, key[1])

    def set_gauge(self, name: str, value: float, **labels: object) -> None:
        """Set the gauge ``name`` with these labels."""
        with self._lock:
            self._gauges[(name, labels_of(labels))] = float(value)

    def circuit(self, name: str, state: str, reason: str = "") -> None:
        """Report the state of circuit ``name``; a change counts as a transition."""
        state = str(state)
        with self._lock:
            previous = self._circuits.get(name)
            if previous is not None and previous.state == state:
                return
            self._circuits[name] = CircuitState(state, reason, self._clock())
        if previous is not None:
            self.increment("breaker_transitions", circuit=name, to=state)
            suffix = f" ({reason})" if reason else ""
            self.event(f"{name}: {previous.state} -> {state}{suffix}", kind="circuit")

    def breaker_transition(self, transition: Any) -> None:
        """A listener for :class:`~voice_agent_cli.resilience.CircuitBreakers`.

        ``breakers.listen(metrics.breaker_transition)`` feeds every transition
        of every breaker into the circuit panel, the counters and the events.
        """
        name = str(transition.breaker)
        with self._lock:
            known = name in self._circuits
        if not known:
            self.circuit(name, str(transition.old))
        self.circuit(name, str(transition.new), str(getattr(transition, "reason", "")))

    def event(self, message: str, *, kind: str = "info") -> None:
        """Add a line to the recent events (shown by the live view)."""
        item = MetricEvent(self._clock(), kind, message)
        with self._lock:
            self._events.append(item)
            listeners = list(self._listeners)
        for listener in listeners:
            listener(item)

    def record_turn(self, turn: Mapping[str, Any]) -> None:
        """Remember the last turn's summary (id, source, timings) for the live view."""
        with self._lock:
            self._last_turn = dict(turn)

    # -- sessions (business metrics) -------------------------------------------------------

    def session_started(self, session_id: str, kind: str = "chat") -> None:
        """A chat/talk/join session began."""
        with self._lock:
            self._sessions[session_id] = _Session(kind, self._clock())
            active = len(self._sessions)
        self.increment("sessions", kind=kind)
        self.set_gauge("active_sessions", active)

    def session_message(self, session_id: str | None) -> None:
        """A turn of ``session_id`` was answered."""
        with self._lock:
            session = self._sessions.get(session_id or "")
            if session is not None:
                session.messages += 1

    def session_ended(self, session_id: str) -> None:
        """A session ended: record its length in messages and seconds."""
        with self._lock:
            session = self._sessions.pop(session_id, None)
            active = len(self._sessions)
        if session is None:
            return
        self.set_gauge("active_sessions", active)
        self.record("messages_per_session", session.messages)
        self.record("session_duration_s", self._clock() - session.started)

    # -- wiring ----------------------------------------------------------------------------

    def add_sink(self, sink: MetricsSink) -> None:
        """Forward every sample and count to ``sink`` from now on."""
        with self._lock:
            self._sinks.append(sink)

    def remove_sink(self, sink: MetricsSink) -> None:
        """Stop forwarding to ``sink``."""
        with self._lock:
            if sink in self._sinks:
                self._sinks.remove(sink)

    def subscribe(self, listener: EventListener) -> Callable[[], None]:
        """Call ``listener`` on every new event; returns a function that unsubscribes."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    # -- reading ---------------------------------------------------------------------------

    def stage(self, name: str) -> LogHistogram | None:
        """A copy of the histogram of stage ``name`` (``None`` if never observed)."""
        with self._lock:
            histogram = self._stages.get(name)
            if histogram is None:
                return None
            copy = LogHistogram(histogram.relative_accuracy)
            copy.merge(histogram)
            return copy

    def counter(self, name: str, **labels: object) -> float:
        """The counter's value: for the exact label set if given, else summed over all."""
        with self._lock:
            if labels:
                return self._counters.get((name, labels_of(labels)), 0)
            return sum(value for (key, _), value in self._counters.items() if key == name)

    def series(self) -> dict[str, Any]:
        """Raw copies of every series, for exporters."""
        with self._lock:
            return {
                "stages": {name: _copy(h) for name, h in self._stages.items()},
                "distributions": {name: _copy(h) for name, h in self._distributions.items()},
                "counters": dict(self._counters),
                "gauges": dict(self._gauges),
                "circuits": {
                    name: CircuitState(c.state, c.reason, c.since)
                    for name, c in self._circuits.items()
                },
            }

    def as_json(self, percentiles: tuple[float, ...] = DEFAULT_PERCENTILES) -> dict[str, Any]:
        """Everything as plain data: what ``--metrics-json`` writes and the live view shows."""
        series = self.series()
        with self._lock:
            events = [event.as_json() for event in self._events]
            last_turn = dict(self._last_turn) if self._last_turn else None
            active = len(self._sessions)
        counters: dict[str, list[dict[str, Any]]] = {}
        for (name, labels), value in sorted(series["counters"].items()):
            counters.setdefault(name, []).append({"labels": dict(labels), "value": value})
        gauges: dict[str, list[dict[str, Any]]] = {}
        for (name, labels), value in sorted(series["gauges"].items()):
            gauges.setdefault(name, []).append({"labels": dict(labels), "value": value})
        return {
            "uptime_s": round(self._clock() - self.started, 3),
            "stages": {
                name: summarize(histogram, percentiles, unit="ms")
                for name, histogram in sorted(series["stages"].items())
            },
            "last_turn": last_turn,
            "counters": counters,
            "gauges": gauges,
            "cache": self._cache_figures(series["counters"]),
            "tools": self._tool_figures(series["counters"]),
            "errors": {
                dict(labels).get("type", "?"): value
                for (name, labels), value in sorted(series["counters"].items())
                if name == "errors"
            },
            "circuits": {
                name: {"state": c.state, "reason": c.reason, "since": round(c.since, 3)}
                for name, c in sorted(series["circuits"].items())
            },
            "sessions": {
                "active": active,
                "started": sum(
                    value for (name, _), value in series["counters"].items() if name == "sessions"
                ),
                **{
                    name: summarize(histogram, percentiles, unit="")
                    for name, histogram in sorted(series["distributions"].items())
                },
            },
            "events": events,
        }

    @staticmethod
    def _cache_figures(counters: Mapping[tuple[str, Labels], float]) -> dict[str, Any]:
        figures: dict[str, Any] = {}
        for layer in CACHE_LAYERS:
            hits = counters.get(("cache_hits", (("layer", layer),)), 0)
            misses = counters.get(("cache_misses", (("layer", layer),)), 0)
            looked = hits + misses
            figures[layer] = {
                "hits": hits,
                "misses": misses,
                "hit_rate": round(hits / looked, 4) if looked else None,
            }
        lookups = counters.get(("buffer_lookups", ()), 0)
        hits = sum(figures[layer]["hits"] for layer in CACHE_LAYERS)
        figures["overall"] = {
            "lookups": lookups,
            "hits": hits,
            "hit_rate": round(hits / lookups, 4) if lookups else None,
        }
        return figures

    @staticmethod
    def _tool_figures(counters: Mapping[tuple[str, Labels], float]) -> dict[str, Any]:
        tools: dict[str, dict[str, float]] = {}
        for (name, labels), value in counters.items():
            if name != "tool_calls":
                continue
            plain = dict(labels)
            entry = tools.setdefault(plain.get("tool", "?"), {"calls": 0, "errors": 0})
            entry["calls"] += value
            if plain.get("status") == "error":
                entry["errors"] += value
        return dict(sorted(tools.items(), key=lambda item: -item[1]["calls"]))


def _copy(histogram: LogHistogram) -> LogHistogram:
    copy = LogHistogram(histogram.relative_accuracy)
    copy.merge(histogram)
    return copy


def summarize(
    histogram: LogHistogram, percentiles: tuple[float, ...] = DEFAULT_PERCENTILES, unit: str = "ms"
) -> dict[str, Any]:
    """``{"n", "p50_ms", ..., "mean_ms", "max_ms"}`` of a histogram (values rounded)."""
    suffix = f"_{unit}" if unit else ""
    summary: dict[str, Any] = {"n": histogram.count}
    for p in percentiles:
        value = histogram.percentile(p)
        summary[f"p{p:g}{suffix}"] = None if value is None else round(value, 3)
    mean = histogram.mean
    summary[f"mean{suffix}"] = None if mean is None else round(mean, 3)
    summary[f"max{suffix}"] = round(histogram.max, 3) if histogram.count else None
    summary[f"last{suffix}"] = None if histogram.last is None else round(histogram.last, 3)
    return summary

"""Prometheus export: the text format, and the HTTP endpoint of ``--metrics-port``.

A custom collector reads :class:`~voice_agent_cli.observe.metrics.Metrics` at scrape
time, so nothing is duplicated and the numbers are those the live view shows:

- ``va_stage_latency_ms{stage, quantile}``: a summary per stage (p50/p95/p99,
  count and sum), from the relative-error histogram;
- ``va_<counter>_total{labels}`` for every counter;
- ``va_<gauge>{labels}`` for every gauge (``va_active_sessions`` ...);
- ``va_circuit_state{circuit, state}``: 1 for the state each breaker is in;
- ``va_messages_per_session`` and ``va_session_duration_s`` summaries.

The server listens on 127.0.0.1 unless told otherwise: metrics are not for
the whole network by accident.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from voice_agent_cli.errors import UsageError

if TYPE_CHECKING:
    from voice_agent_cli.observe.metrics import LogHistogram, Metrics

_QUANTILES = (0.5, 0.95, 0.99)
_CIRCUIT_STATES = ("closed", "open", "half_open")


def _name(raw: str) -> str:
    return re.sub(r"[^a-zA-Z0-9_]", "_", raw)


class MetricsCollector:
    """A prometheus-client collector over one :class:`Metrics` registry."""

    def __init__(self, metrics: Metrics) -> None:
        self.metrics = metrics

    def describe(self) -> list[Any]:
        # No fixed description: the series appear as layers report them.
        return []

    def collect(self) -> Iterator[Any]:
        from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric

        series = self.metrics.series()

        latency = Metric("va_stage_latency_ms", "Latency of each stage of a turn (ms)", "summary")
        for stage, histogram in sorted(series["stages"].items()):
            _add_summary(latency, "va_stage_latency_ms", histogram, {"stage": stage})
        yield latency

        for name, histogram in sorted(series["distributions"].items()):
            summary = Metric(f"va_{_name(name)}", f"{name} (per session)", "summary")
            _add_summary(summary, f"va_{_name(name)}", histogram, {})
            yield summary

        counters: dict[str, list[tuple[dict[str, str], float]]] = {}
        for (name, labels), value in series["counters"].items():
            counters.setdefault(name, []).append((dict(labels), value))
        for name, entries in sorted(counters.items()):
            keys = sorted({key for labels, _ in entries for key in labels})
            family = CounterMetricFamily(f"va_{_name(name)}", f"va {name}", labels=keys)
            for labels, value in entries:
                family.add_metric([labels.get(key, "") for key in keys], value)
            yield family

        gauges: dict[str, list[tuple[dict[str, str], float]]] = {}
        for (name, labels), value in series["gauges"].items():
            gauges.setdefault(name, []).append((dict(labels), value))
        for name, entries in sorted(gauges.items()):
            keys = sorted({key for labels, _ in entries for key in labels})
            gauge = GaugeMetricFamily(f"va_{_name(name)}", f"va {name}", labels=keys)
            for labels, value in entries:
                gauge.add_metric([labels.get(key, "") for key in keys], value)
            yield gauge

        circuits = GaugeMetricFamily(
            "va_circuit_state",
            "1 for the state each circuit breaker is in",
            labels=["circuit", "state"],
        )
        for circuit, state in sorted(series["circuits"].items()):
            states = set(_CIRCUIT_STATES) | {state.state}
            for candidate in sorted(states):
                circuits.add_metric([circuit, candidate], 1.0 if candidate == state.state else 0.0)
        yield circuits


def _add_summary(metric: Any, name: str, histogram: LogHistogram, labels: dict[str, str]) -> None:
    for quantile in _QUANTILES:
        value = histogram.quantile(quantile)
        if value is not None:
            metric.add_sample(name, {**labels, "quantile": f"{quantile:g}"}, value)
    metric.add_sample(f"{name}_count", labels, float(histogram.count))
    metric.add_sample(f"{name}_sum", labels, histogram.total)


def prometheus_text(metrics: Metrics) -> str:
    """The registry in the Prometheus text exposition format."""
    from prometheus_client import CollectorRegistry, generate_latest

    registry = CollectorRegistry(auto_describe=False)
    registry.register(MetricsCollector(metrics))
    return generate_latest(registry).decode("utf-8")


class MetricsServer:
    """``/metrics`` over HTTP for Prometheus to scrape; close it when done."""

    def __init__(self, metrics: Metrics, port: int, host: str = "127.0.0.1") -> None:
        from prometheus_client import CollectorRegistry, start_http_server

        registry = CollectorRegistry(auto_describe=False)
        registry.register(MetricsCollector(metrics))
        try:
            self._server, self._thread = start_http_server(port, addr=host, registry=registry)
        except OSError as exc:
            raise UsageError(f"cannot serve metrics on {host}:{port}: {exc.strerror}") from None
        self.host = host
        self.port = int(self._server.server_address[1])

    @property
    def url(self) -> str:
        """Where the metrics are served."""
        return f"http://{self.host}:{self.port}/metrics"

    def close(self) -> None:
        """Stop serving."""
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

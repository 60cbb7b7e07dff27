"""OpenTelemetry traces and metrics: off unless configured, then one call away.

``--otel console`` (or ``[observability] otel = "console"`` / ``VA_OTEL``)
prints spans and metrics on stderr; ``otlp`` sends them to an OpenTelemetry
collector (``OTEL_EXPORTER_OTLP_ENDPOINT``, default ``http://localhost:4318``),
which needs the optional exporter: ``pip install 'voice-agent-cli[otlp]'``.

Spans:

- agent turns are traced by the metrics observer from the turn's own timings
  (``va.turn`` with children ``va.buffer.lookup``, ``va.llm`` and
  ``va.tool.call``), so the core has no tracing code;
- other layers wrap their work in :func:`span`::

      from voice_agent_cli.observe import tracing

      with tracing.span(tracing.STT, engine="faster-whisper"):
          text = await transcribe(audio)

  Spans nest (a ``va.turn`` recorded inside a ``va.voice.turn`` becomes its
  child) and carry ``va.session_id``/``va.turn_id`` from :mod:`voice_agent_cli.observe.log`;
  string attributes are redacted like logs.

When tracing is off, :func:`span` costs one function call and imports nothing.
The SDK objects are private to va (never installed as OpenTelemetry's global
provider), so an application embedding va keeps its own.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voice_agent_cli import __version__
from voice_agent_cli.errors import DependencyUnavailable, UsageError
from voice_agent_cli.observe import ids, redaction

if TYPE_CHECKING:
    from voice_agent_cli.contracts.events import TurnCompleted
    from voice_agent_cli.observe.metrics import Metrics
    from voice_agent_cli.observe.metrics.registry import Labels

#: Span names, for the layers that call :func:`span`.
TURN = "va.turn"
BUFFER_LOOKUP = "va.buffer.lookup"
LLM_CALL = "va.llm"
TOOL_CALL = "va.tool.call"
EXPERT_CALL = "va.expert.call"
STT = "va.stt"
TTS = "va.tts"

EXPORTERS = ("none", "console", "otlp")


@dataclass(frozen=True)
class ToolSpan:
    """A finished tool call, kept until its turn's spans are recorded."""

    name: str
    end_ns: int
    duration_ms: float
    is_error: bool


class _Telemetry:
    """The configured SDK objects."""

    def __init__(self, tracer_provider: Any, meter_provider: Any, sink: Any, metrics: Any) -> None:
        self.tracer_provider = tracer_provider
        self.tracer = tracer_provider.get_tracer("voice_agent_cli")
        self.meter_provider = meter_provider
        self.sink = sink
        self.metrics = metrics


_STATE: _Telemetry | None = None


def enabled() -> bool:
    """Whether tracing is configured."""
    return _STATE is not None


def configure(
    exporter: str = "console",
    *,
    endpoint: str | None = None,
    span_exporter: Any = None,
    metric_reader: Any = None,
    metrics: Metrics,
    service_name: str = "va",
) -> None:
    """Turn OpenTelemetry on: ``console``, ``otlp``, or a given exporter (tests).

    ``span_exporter``/``metric_reader`` replace the exporter's own (e.g.
    ``InMemorySpanExporter``). Metrics reported to ``metrics`` are mirrored as
    OpenTelemetry instruments. ``none`` turns it off.
    """
    global _STATE
    shutdown()
    if exporter == "none" and span_exporter is None:
        return
    if exporter not in EXPORTERS:
        raise UsageError(f"unknown OpenTelemetry exporter {exporter!r} (none, console or otlp)")
    from opentelemetry.sdk.metrics import MeterProvider
    from opentelemetry.sdk.resources import Resource
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import BatchSpanProcessor, SimpleSpanProcessor

    resource = Resource.create({"service.name": service_name, "service.version": __version__})
    # shutdown_on_exit=False: shutdown() is called by whoever configured this; an
    # atexit hook would flush again into streams that are closed by then.
    tracer_provider = TracerProvider(resource=resource, shutdown_on_exit=False)
    readers = [metric_reader] if metric_reader is not None else []
    if span_exporter is not None:
        tracer_provider.add_span_processor(SimpleSpanProcessor(span_exporter))
    elif exporter == "console":
        from opentelemetry.sdk.metrics.export import (
            ConsoleMetricExporter,
            PeriodicExportingMetricReader,
        )
        from opentelemetry.sdk.trace.export import ConsoleSpanExporter

        # stderr: stdout carries the command's result (replies, --json).
        tracer_provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=sys.stderr)))
        if metric_reader is None:
            readers.append(
                PeriodicExportingMetricReader(
                    ConsoleMetricExporter(out=sys.stderr), export_interval_millis=60_000
                )
            )
    else:
        span_out, metric_out = _otlp_exporters(endpoint)
        tracer_provider.add_span_processor(BatchSpanProcessor(span_out))
        if metric_reader is None:
            from opentelemetry.sdk.metrics.export import PeriodicExportingMetricReader

            readers.append(PeriodicExportingMetricReader(metric_out))
    meter_provider = MeterProvider(
        resource=resource, metric_readers=readers, shutdown_on_exit=False
    )
    sink = _OtelMetricsSink(meter_provider.get_meter("voice_agent_cli"), metrics)
    metrics.add_sink(sink)
    _STATE = _Telemetry(tracer_provider, meter_provider, sink, metrics)


def _otlp_exporters(endpoint: str | None) -> tuple[Any, Any]:
    try:
        from opentelemetry.exporter.otlp.proto.http.metric_exporter import OTLPMetricExporter
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter
    except ImportError:
        raise DependencyUnavailable(
            "OTLP export needs the optional exporter: pip install 'voice-agent-cli[otlp]'"
        ) from None
    base = endpoint.rstrip("/") if endpoint else None
    return (
        OTLPSpanExporter(endpoint=f"{base}/v1/traces" if base else None),
        OTLPMetricExporter(endpoint=f"{base}/v1/metrics" if base else None),
    )


def shutdown() -> None:
    """Flush what is pending and turn OpenTelemetry off (idempotent)."""
    global _STATE
    state, _STATE = _STATE, None
    if state is None:
        return
    state.metrics.remove_sink(state.sink)
    state.tracer_provider.shutdown()
    state.meter_provider.shutdown()


def _attributes(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Correlation ids plus the given attributes, as OpenTelemetry accepts them."""
    out: dict[str, Any] = {f"va.{name}": value for name, value in ids.correlation().items()}
    for key, value in attributes.items():
        if value is None:
            continue
        if isinstance(value, str):
            value = redaction.redact(value)
        elif not isinstance(value, bool | int | float):
            value = redaction.redact(str(value))
        out[key if "." in key else f"va.{key}"] = value
    return out


@contextmanager
def span(name: str, **attributes: Any) -> Iterator[Any]:
    """Trace the body as span ``name`` (a no-op yielding ``None`` when tracing is off)."""
    state = _STATE
    if state is None:
        yield None
        return
    with state.tracer.start_as_current_span(name, attributes=_attributes(attributes)) as current:
        yield current


def current_ids() -> dict[str, str]:
    """The trace and span ids in force, for log records (empty when tracing is off)."""
    if _STATE is None:
        return {}
    from opentelemetry import trace

    context = trace.get_current_span().get_span_context()
    if not context.is_valid:
        return {}
    return {
        "trace_id": format(context.trace_id, "032x"),
        "span_id": format(context.span_id, "016x"),
    }


def record_turn(turn: TurnCompleted, tools: list[ToolSpan]) -> None:
    """Record a finished turn's spans from its timings (they end now).

    The turn started ``timings["total"]`` ms ago; the buffer lookup came first,
    then the LLM (with an event at the first token) and its tool calls, which
    were timestamped when they ended.
    """
    state = _STATE
    if state is None:
        return
    from opentelemetry import trace
    from opentelemetry.trace import Status, StatusCode

    end = time.time_ns()
    timings = turn.timings
    start = end - _ns(timings.get("total", 0.0))
    root = state.tracer.start_span(
        TURN,
        start_time=start,
        attributes=_attributes(
            {
                "turn_id": turn.turn_id,
                "source": turn.source,
                "llm": turn.llm,
                "interrupted": turn.interrupted,
                **{f"timing.{stage}_ms": value for stage, value in timings.items()},
            }
        ),
    )
    parent = trace.set_span_in_context(root)
    offset = start
    if "buffer_lookup" in timings:
        offset = start + _ns(timings["buffer_lookup"])
        hit = turn.source in ("prebuffered", "cache")
        lookup = state.tracer.start_span(
            BUFFER_LOOKUP,
            context=parent,
            start_time=start,
            attributes=_attributes({"hit": hit, "layer": turn.source if hit else "miss"}),
        )
        lookup.end(end_time=offset)
    if turn.llm is not None:
        llm = state.tracer.start_span(
            LLM_CALL,
            context=parent,
            start_time=offset,
            attributes=_attributes({"llm": turn.llm, "ttft_ms": timings.get("llm_ttft")}),
        )
        if "llm_ttft" in timings:
            llm.add_event("first token", timestamp=offset + _ns(timings["llm_ttft"]))
        in_llm = trace.set_span_in_context(llm)
        for tool in tools:
            call = state.tracer.start_span(
                TOOL_CALL,
                context=in_llm,
                start_time=tool.end_ns - _ns(tool.duration_ms),
                attributes=_attributes({"tool": tool.name, "error": tool.is_error}),
            )
            if tool.is_error:
                call.set_status(Status(StatusCode.ERROR, "the tool reported an error"))
            call.end(end_time=tool.end_ns)
        llm.end(end_time=end)
    root.end(end_time=end)


def _ns(milliseconds: float) -> int:
    return int(milliseconds * 1_000_000)


class _OtelMetricsSink:
    """Mirrors va's metrics as OpenTelemetry instruments (``va.stage.duration``, counters)."""

    def __init__(self, meter: Any, metrics: Metrics) -> None:
        self.meter = meter
        self._durations = meter.create_histogram(
            "va.stage.duration", unit="ms", description="duration of a stage of a turn"
        )
        self._counters: dict[str, Any] = {}
        metrics_ref = metrics

        def active_sessions(options: Any) -> Any:
            from opentelemetry.metrics import Observation

            gauges = metrics_ref.series()["gauges"]
            yield Observation(gauges.get(("active_sessions", ()), 0.0))

        meter.create_observable_gauge(
            "va.active_sessions", callbacks=[active_sessions], description="sessions open now"
        )

    def observe(self, stage: str, milliseconds: float, labels: Labels) -> None:
        self._durations.record(milliseconds, {"stage": stage, **dict(labels)})

    def increment(self, name: str, amount: float, labels: Labels) -> None:
        counter = self._counters.get(name)
        if counter is None:
            counter = self._counters[name] = self.meter.create_counter(f"va.{name}")
        counter.add(amount, dict(labels))

"""Exports: Prometheus text over a real HTTP endpoint, OpenTelemetry spans and metrics."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Iterator

import pytest
from opentelemetry.sdk.metrics.export import InMemoryMetricReader
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.observe import ids, metrics, tracing
from voice_agent_cli.observe.metrics import Metrics
from voice_agent_cli.observe.metrics.prometheus import MetricsServer, prometheus_text
from voice_agent_cli.observe.turns import instrument
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing.fake_llm import tool_call
from voice_agent_cli.tools.base import FunctionTools

OPTIONS = AgentOptions(system_prompt="You are a test.")


def clock() -> FunctionTools:
    tools = FunctionTools()

    def get_time() -> str:
        """The time."""
        return "12:00"

    tools.add(get_time)
    return tools


@pytest.fixture
def registry() -> Iterator[Metrics]:
    with metrics.use(Metrics()) as fresh:
        yield fresh


@pytest.fixture
def spans(registry: Metrics) -> Iterator[InMemorySpanExporter]:
    exporter = InMemorySpanExporter()
    tracing.configure(span_exporter=exporter, metrics=registry)
    yield exporter
    tracing.shutdown()


async def test_prometheus_endpoint_serves_what_the_agent_measured(registry: Metrics) -> None:
    agent = Agent(FakeLLM(["It is noon."]), OPTIONS)
    instrument(agent, metrics.current())
    await agent.reply("what time is it?")
    registry.circuit("llm:fake:scripted", "closed")
    registry.set_gauge("active_sessions", 1)

    def scrape(url: str) -> tuple[str, str]:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.read().decode(), response.headers["Content-Type"]

    server = MetricsServer(registry, port=0)
    try:
        body, content_type = await asyncio.to_thread(scrape, server.url)
    finally:
        server.close()
    assert content_type.startswith("text/plain")
    assert "# TYPE va_stage_latency_ms summary" in body
    assert 'va_stage_latency_ms{quantile="0.95",stage="llm_ttft"}' in body
    assert 'va_stage_latency_ms_count{stage="total"} 1.0' in body
    assert 'va_turns_total{source="llm"} 1.0' in body
    assert "va_active_sessions 1.0" in body
    assert 'va_circuit_state{circuit="llm:fake:scripted",state="closed"} 1.0' in body
    assert 'va_circuit_state{circuit="llm:fake:scripted",state="open"} 0.0' in body


def test_prometheus_text_of_an_empty_registry_is_valid() -> None:
    text = prometheus_text(Metrics())
    assert "# TYPE va_stage_latency_ms summary" in text


def test_a_busy_port_is_a_clear_usage_error(registry: Metrics) -> None:
    from voice_agent_cli.errors import UsageError

    first = MetricsServer(registry, port=0)
    try:
        with pytest.raises(UsageError, match=f"cannot serve metrics on 127.0.0.1:{first.port}"):
            MetricsServer(registry, port=first.port)
    finally:
        first.close()


async def test_a_turn_becomes_a_tree_of_spans(
    registry: Metrics, spans: InMemorySpanExporter
) -> None:
    agent = Agent(FakeLLM([[tool_call("get_time")], "It is noon."]), OPTIONS, tools=clock())
    instrument(agent, metrics.current())
    with ids.session_scope("session-42"):
        completed = await agent.reply("what time is it?")

    finished = {span.name: span for span in spans.get_finished_spans()}
    assert set(finished) == {"va.turn", "va.llm", "va.tool.call"}
    turn, llm, tool = finished["va.turn"], finished["va.llm"], finished["va.tool.call"]
    assert turn.parent is None
    assert llm.parent is not None and llm.parent.span_id == turn.context.span_id
    assert tool.parent is not None and tool.parent.span_id == llm.context.span_id
    assert turn.attributes is not None and llm.attributes is not None
    assert turn.attributes["va.turn_id"] == completed.turn_id
    assert turn.attributes["va.session_id"] == "session-42"
    assert turn.attributes["va.source"] == "llm"
    assert tool.attributes is not None and tool.attributes["va.tool"] == "get_time"
    assert [event.name for event in llm.events] == ["first token"]
    assert turn.start_time is not None and turn.end_time is not None
    assert turn.end_time - turn.start_time == pytest.approx(
        completed.timings["total"] * 1e6, rel=0.01
    )


async def test_buffer_lookups_are_spans_and_other_layers_use_the_helper(
    registry: Metrics, spans: InMemorySpanExporter
) -> None:
    from voice_agent_cli.contracts.turns import BufferHit, TurnContext

    class Greeter:
        async def lookup(self, context: TurnContext) -> BufferHit | None:
            return BufferHit("Hello!", "prebuffered")

        async def store(self, context: TurnContext, reply: str) -> None:
            return None

    agent = Agent(FakeLLM(), OPTIONS, buffer=Greeter())
    instrument(agent, metrics.current())
    with tracing.span("va.voice.turn", engine="test"):
        with tracing.span(tracing.STT, text="call me at +44 20 7946 0958"):
            pass
        await agent.reply("hello")
        with tracing.span(tracing.TTS):
            pass

    by_name = {span.name: span for span in spans.get_finished_spans()}
    assert {"va.voice.turn", "va.stt", "va.tts", "va.turn", "va.buffer.lookup"} <= set(by_name)
    voice = by_name["va.voice.turn"]
    for child in ("va.stt", "va.tts", "va.turn"):
        parent = by_name[child].parent
        assert parent is not None and parent.span_id == voice.context.span_id
    lookup = by_name["va.buffer.lookup"].attributes
    assert lookup is not None
    assert (lookup["va.hit"], lookup["va.layer"]) == (True, "prebuffered")
    assert lookup["va.turn_id"] == by_name["va.turn"].attributes["va.turn_id"]  # type: ignore[index]
    stt_attributes = by_name["va.stt"].attributes
    assert stt_attributes is not None and stt_attributes["va.text"] == "call me at [phone]"


async def test_metrics_are_mirrored_as_opentelemetry_instruments(registry: Metrics) -> None:
    reader = InMemoryMetricReader()
    tracing.configure(span_exporter=InMemorySpanExporter(), metric_reader=reader, metrics=registry)
    try:
        agent = Agent(FakeLLM(["ok"]), OPTIONS)
        instrument(agent, metrics.current())
        await agent.reply("hi")
        data = reader.get_metrics_data()
    finally:
        tracing.shutdown()
    assert data is not None
    names = {
        metric.name
        for resource in data.resource_metrics
        for scope in resource.scope_metrics
        for metric in scope.metrics
    }
    assert {"va.stage.duration", "va.turns", "va.active_sessions"} <= names


def test_tracing_is_off_by_default_and_costs_nothing() -> None:
    assert not tracing.enabled()
    with tracing.span("va.tts") as current:
        assert current is None
    assert tracing.current_ids() == {}

"""Metrics from real agent turns (FakeLLM), the reporting API, sessions, breakers, JSON."""

from __future__ import annotations

import json

import pytest

from voice_agent_cli.contracts.turns import BufferHit, TurnContext
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.errors import LLMAuthError
from voice_agent_cli.observe import metrics
from voice_agent_cli.observe.command import open_session
from voice_agent_cli.observe.metrics import Metrics
from voice_agent_cli.observe.turns import instrument
from voice_agent_cli.resilience import BreakerPolicy, CircuitBreakers
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing.fake_llm import tool_call
from voice_agent_cli.tools.base import FunctionTools

OPTIONS = AgentOptions(system_prompt="You are a test.", max_tool_steps=3)


class ScriptedBuffer:
    """A ReplyBuffer answering a few questions from a layer, and remembering stores."""

    def __init__(self, answers: dict[str, BufferHit]) -> None:
        self.answers = answers
        self.stored: list[str] = []

    async def lookup(self, context: TurnContext) -> BufferHit | None:
        return self.answers.get(context.text)

    async def store(self, context: TurnContext, reply: str) -> None:
        self.stored.append(reply)


def tools() -> FunctionTools:
    registry = FunctionTools()

    def get_time() -> str:
        """The time."""
        return "12:00"

    def broken() -> str:
        """Always fails."""
        raise RuntimeError("nope")

    registry.add(get_time)
    registry.add(broken)
    return registry


@pytest.fixture
def registry() -> Metrics:
    with metrics.use(Metrics()) as fresh:
        yield fresh


async def test_an_observer_counts_turns_stages_layers_and_tools(registry: Metrics) -> None:
    buffer = ScriptedBuffer(
        {
            "hello": BufferHit("Hi!", "prebuffered"),
            "capital of France?": BufferHit("Paris.", "cache"),
        }
    )
    llm = FakeLLM(
        [[tool_call("get_time"), tool_call("broken", "call_2")], "It is noon.", "Fine, thanks."]
    )
    agent = Agent(llm, OPTIONS, tools=tools(), buffer=buffer)
    instrument(agent, metrics.current())
    for text in ("hello", "capital of France?", "what time is it?", "how are you?"):
        await agent.reply(text)

    assert registry.counter("turns") == 4
    assert registry.counter("turns", source="llm") == 2
    assert registry.counter("turns", source="prebuffered") == 1
    assert registry.counter("tool_calls", tool="get_time", status="ok") == 1
    assert registry.counter("tool_calls", tool="broken", status="error") == 1
    snapshot = registry.as_json()
    assert snapshot["cache"]["prebuffered"] == {"hits": 1, "misses": 3, "hit_rate": 0.25}
    assert snapshot["cache"]["cache"] == {"hits": 1, "misses": 2, "hit_rate": 0.3333}
    assert snapshot["cache"]["overall"]["hit_rate"] == 0.5
    assert snapshot["stages"]["total"]["n"] == 4
    assert snapshot["stages"]["buffer_lookup"]["n"] == 4
    assert snapshot["stages"]["llm_ttft"]["n"] == 2
    assert snapshot["stages"]["tool_time"]["n"] == 1
    assert snapshot["tools"] == {
        "get_time": {"calls": 1, "errors": 0},
        "broken": {"calls": 1, "errors": 1},
    }
    assert snapshot["last_turn"]["source"] == "llm"
    assert {"llm_ttft", "total"} <= set(snapshot["last_turn"]["timings"])
    kinds = [event["kind"] for event in snapshot["events"]]
    assert kinds.count("turn") == 4 and kinds.count("tool") == 2
    json.dumps(snapshot)  # plain data all the way down


async def test_stage_percentiles_come_from_the_reported_timings(registry: Metrics) -> None:
    for value in range(1, 101):
        registry.observe("tts_ttfb", float(value))
    figures = registry.as_json()["stages"]["tts_ttfb"]
    assert figures["n"] == 100
    assert figures["p50_ms"] == pytest.approx(50, rel=0.01)
    assert figures["p95_ms"] == pytest.approx(95, rel=0.01)
    assert figures["p99_ms"] == pytest.approx(99, rel=0.01)
    assert figures["mean_ms"] == 50.5


async def test_a_failed_turn_counts_its_error_type(registry: Metrics) -> None:
    agent = Agent(FakeLLM([LLMAuthError("bad key")]), OPTIONS, metrics=registry)
    instrument(agent, registry)
    with pytest.raises(LLMAuthError):
        await agent.reply("hi")
    assert registry.as_json()["errors"] == {"LLMAuthError": 1}
    assert registry.counter("turns") == 0


async def test_sessions_give_messages_per_session_and_duration(registry: Metrics) -> None:
    agent = Agent(FakeLLM(), OPTIONS)
    instrument(agent, metrics.current())
    with open_session("chat") as first:
        assert registry.as_json()["sessions"]["active"] == 1
        await agent.reply("one")
        await agent.reply("two")
    with open_session("chat"):
        await agent.reply("three")
    sessions = registry.as_json()["sessions"]
    assert first
    assert sessions["active"] == 0
    assert sessions["started"] == 2
    assert sessions["messages_per_session"]["n"] == 2
    assert sessions["messages_per_session"]["max"] == 2
    assert sessions["session_duration_s"]["n"] == 2


def test_breaker_transitions_feed_circuits_counters_and_events(registry: Metrics) -> None:
    now = [0.0]
    breakers = CircuitBreakers(clock=lambda: now[0])
    breakers.listen(registry.breaker_transition)
    breaker = breakers.get("llm:gemini", BreakerPolicy(failure_threshold=2, recovery_s=10))
    breaker.record_failure("LLMServerError")
    breaker.record_failure("LLMServerError")
    assert registry.as_json()["circuits"]["llm:gemini"]["state"] == "open"
    now[0] = 11.0
    assert breaker.allow()  # half-open: one trial
    breaker.record_success()
    snapshot = registry.as_json()
    assert snapshot["circuits"]["llm:gemini"]["state"] == "closed"
    transitions = {
        entry["labels"]["to"]: entry["value"]
        for entry in snapshot["counters"]["breaker_transitions"]
    }
    assert transitions == {"open": 1, "half_open": 1, "closed": 1}
    assert next(e["message"] for e in snapshot["events"] if e["kind"] == "circuit").startswith(
        "llm:gemini: closed -> open"
    )


def test_a_registry_takes_errors_gauges_circuits_and_events() -> None:
    mine = Metrics()
    with metrics.use(mine):
        assert metrics.current() is mine  # the registry an entry point hands down
        mine.increment("errors", type="AudioDeviceError")
        mine.set_gauge("participants", 3, room="demo")
        mine.circuit("mcp:notes", "closed")
        mine.event("joined room demo")
    snapshot = mine.as_json()
    assert snapshot["errors"] == {"AudioDeviceError": 1}
    assert snapshot["gauges"]["participants"] == [{"labels": {"room": "demo"}, "value": 3.0}]
    assert snapshot["circuits"]["mcp:notes"]["state"] == "closed"
    assert snapshot["events"][-1]["message"] == "joined room demo"
    assert metrics.current() is not mine


async def test_a_broken_observer_sink_never_breaks_a_turn(registry: Metrics) -> None:
    class Exploding:
        def observe(self, stage: str, milliseconds: float, labels: object) -> None:
            raise RuntimeError("sink bug")

        def increment(self, name: str, amount: float, labels: object) -> None:
            raise RuntimeError("sink bug")

    registry.add_sink(Exploding())
    agent = Agent(FakeLLM(["fine"]), OPTIONS)
    instrument(agent, metrics.current())
    completed = await agent.reply("hi")
    assert completed.reply == "fine"

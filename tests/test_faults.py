"""Fault injection: the agent under a failing Gemini, with breaker, failover and degraded mode.

Each fault is served by the local Gemini-compatible server to the real SDK. For
each one the agent must answer (through the fallback model) or degrade as
specified, the breaker must open and recover, nothing may crash, no turn may
be silently lost, and the API key may appear nowhere. docs/resilience.md keeps
the table of faults covered (MCP servers, experts and Redis have their own
tests, named there).
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from tests.gemini_fixtures import TEST_KEY
from voice_agent_cli.contracts.events import Notice, TurnCompleted, TurnEvent
from voice_agent_cli.contracts.secrets import Secret
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.llm.fallback import FallbackLLM
from voice_agent_cli.llm.gemini import GeminiLLM
from voice_agent_cli.resilience import BreakerPolicy, BreakerState, CircuitBreakers, RetryPolicy
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing import fake_gemini as script
from voice_agent_cli.testing.fake_gemini import FakeGemini

FAULTS = {
    "429 quota": script.rate_limited,
    "500 internal": lambda: script.http_error(500),
    "503 unavailable": lambda: script.http_error(503),
    "hanging server": script.hang,
    "stream dropped before any text": lambda: script.drop(after_chunks=0),
    "malformed JSON": script.malformed,
}


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


async def _no_sleep(seconds: float) -> None:
    return None


@pytest.fixture
async def gemini_with_breaker(fake_gemini: FakeGemini) -> AsyncIterator[GeminiLLM]:
    llm = GeminiLLM(
        api_key=Secret(TEST_KEY, "GEMINI_API_KEY"),
        timeout_s=0.3,
        retry=RetryPolicy(max_retries=1, sleep=_no_sleep),
    )
    yield llm
    await llm.aclose()


async def turn(agent: Agent, text: str) -> list[TurnEvent]:
    return [event async for event in agent.run_turn(text)]


def completed(events: list[TurnEvent]) -> TurnCompleted:
    last = events[-1]
    assert isinstance(last, TurnCompleted), "every turn ends with a completion"
    return last


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_degrades_then_recovers_without_a_fallback(
    fault: str, gemini_with_breaker: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    clock = Clock()
    breakers = CircuitBreakers(clock=clock)
    gemini_with_breaker.breaker = breakers.get("llm:gemini", BreakerPolicy(2, 30))
    agent = Agent(gemini_with_breaker, AgentOptions(system_prompt="s"))
    fake_gemini.enqueue(*[FAULTS[fault]() for _ in range(4)])  # 2 turns x (1 try + 1 retry)

    first = await turn(agent, "question one")
    second = await turn(agent, "question two")
    for events in (first, second):
        done = completed(events)
        assert done.source == "degraded"
        assert done.reply == agent.options.degraded_reply
        assert TEST_KEY not in done.details["error"]
    notices = [e for e in first + second if isinstance(e, Notice)]
    assert len(notices) == 1, "the user is told once, not on every turn"
    assert gemini_with_breaker.breaker.state is BreakerState.OPEN

    requests_before = len(fake_gemini.requests)
    third = await turn(agent, "question three")
    assert completed(third).source == "degraded"
    assert "circuit open" in completed(third).details["error"]
    assert len(fake_gemini.requests) == requests_before, "an open breaker fails fast"

    clock.now += 30  # rested: the trial call goes through, and succeeds
    fake_gemini.enqueue(script.text("Back online."))
    fourth = await turn(agent, "question four")
    assert completed(fourth).reply == "Back online."
    assert completed(fourth).source == "llm"
    assert any(isinstance(e, Notice) and "back to normal" in e.message for e in fourth)
    assert gemini_with_breaker.breaker.state is BreakerState.CLOSED
    # degraded turns left no trace in the history; the answered one did
    assert [m.content for m in agent.conversation.messages] == ["question four", "Back online."]


@pytest.mark.parametrize("fault", list(FAULTS))
async def test_fails_over_to_the_embedded_model(
    fault: str, gemini_with_breaker: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    backup = FakeLLM(responder=lambda request: "answered offline", model="local")
    llm = FallbackLLM([gemini_with_breaker, backup])
    agent = Agent(llm, AgentOptions(system_prompt="s"))
    fake_gemini.enqueue(FAULTS[fault](), FAULTS[fault]())
    events = await turn(agent, "question")
    done = completed(events)
    assert done.source == "llm"
    assert done.reply == "answered offline"
    assert [e.message for e in events if isinstance(e, Notice)] == [
        "gemini:gemini-3.5-flash-lite is unavailable: answering with fake:local"
    ]


async def test_a_stream_dropped_mid_reply_keeps_what_was_said(
    gemini_with_breaker: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    agent = Agent(gemini_with_breaker, AgentOptions(system_prompt="s"))
    fake_gemini.enqueue(script.drop("The answer is forty", after_chunks=1, chunks=3))
    with pytest.raises(Exception, match="cut off"):
        await turn(agent, "question")
    last = agent.conversation.messages[-1]
    assert last.role == "assistant" and last.interrupted and last.content

"""LLM failover by composition, and the breaker in the LLM base class."""

from __future__ import annotations

import pytest

from voice_agent_cli.contracts.events import Notice, TurnCompleted
from voice_agent_cli.contracts.messages import ChatMessage
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.errors import (
    CircuitOpenError,
    LLMAuthError,
    LLMBadRequest,
    LLMServerError,
)
from voice_agent_cli.llm.base import LLMRequest, TextChunk
from voice_agent_cli.llm.fallback import FallbackLLM
from voice_agent_cli.resilience import BreakerPolicy, BreakerState, CircuitBreakers
from voice_agent_cli.testing import FakeLLM

OPTIONS = AgentOptions(system_prompt="s")
ASK = LLMRequest(system="s", messages=[ChatMessage(role="user", content="question")])


class Clock:
    now = 0.0

    def __call__(self) -> float:
        return self.now


def primary_and_backup(*primary_replies: object) -> tuple[FakeLLM, FakeLLM, FallbackLLM]:
    primary = FakeLLM(list(primary_replies), model="primary")  # type: ignore[arg-type]
    backup = FakeLLM(responder=lambda request: "backup answer", model="backup")
    return primary, backup, FallbackLLM([primary, backup])


async def test_an_outage_fails_over_to_the_next_provider() -> None:
    primary, backup, llm = primary_and_backup(LLMServerError("503"))
    text, _ = await llm.complete(ASK)
    assert text == "backup answer"
    assert llm.active is backup
    assert len(primary.requests) == 1 and len(backup.requests) == 1


async def test_the_agent_says_once_that_a_fallback_is_answering() -> None:
    _primary, _backup, llm = primary_and_backup(LLMServerError("503"), LLMServerError("503"))
    agent = Agent(llm, OPTIONS)
    first = [e async for e in agent.run_turn("one")]
    second = [e async for e in agent.run_turn("two")]
    notices = [e for e in first + second if isinstance(e, Notice)]
    assert len(notices) == 1
    assert "fake:primary is unavailable: answering with fake:backup" in notices[0].message
    done = second[-1]
    assert isinstance(done, TurnCompleted) and done.reply == "backup answer"


@pytest.mark.parametrize("error", [LLMAuthError("bad key"), LLMBadRequest("too long")])
async def test_errors_another_provider_would_not_fix_are_raised(error: Exception) -> None:
    _primary, backup, llm = primary_and_backup(error)
    with pytest.raises(type(error)):
        await llm.complete(ASK)
    assert backup.requests == []


async def test_a_failure_after_text_was_shown_is_not_hidden_by_failover() -> None:
    class Breaks(FakeLLM):
        async def _stream_impl(self, request):  # type: ignore[no-untyped-def]
            yield TextChunk("half ")
            raise LLMServerError("dropped")

    backup = FakeLLM(model="backup")
    llm = FallbackLLM([Breaks(model="primary"), backup])
    with pytest.raises(LLMServerError):
        async for _ in llm.stream(ASK):
            pass
    assert backup.requests == []


async def test_the_breaker_opens_fails_fast_and_recovers() -> None:
    clock = Clock()
    breakers = CircuitBreakers(clock=clock)
    llm = FakeLLM([LLMServerError("503")] * 3)
    llm.breaker = breakers.get("llm:fake", BreakerPolicy(failure_threshold=3, recovery_s=30))
    agent = Agent(llm, OPTIONS)
    for _ in range(3):
        assert (await agent.reply("q")).source == "degraded"
    assert llm.breaker.state is BreakerState.OPEN
    calls_before = len(llm.requests)
    done = await agent.reply("q")
    assert done.source == "degraded"
    assert "circuit open" in done.details["error"]
    assert len(llm.requests) == calls_before  # failed fast, the provider was not called
    clock.now += 30  # rested: the next call is the half-open trial, and it succeeds
    events = [e async for e in agent.run_turn("q")]
    assert events[-1].source == "llm"  # type: ignore[union-attr]
    assert llm.breaker.state is BreakerState.CLOSED
    assert any(isinstance(e, Notice) and "back to normal" in e.message for e in events)
    assert not agent.degraded


async def test_auth_errors_do_not_open_the_breaker() -> None:
    breakers = CircuitBreakers()
    llm = FakeLLM([LLMAuthError("bad key")] * 5)
    llm.breaker = breakers.get("llm:fake", BreakerPolicy(failure_threshold=2, recovery_s=30))
    for _ in range(3):
        with pytest.raises(LLMAuthError):
            await Agent(llm, OPTIONS).reply("q")
    assert llm.breaker.state is BreakerState.CLOSED


async def test_an_open_breaker_on_the_primary_sends_traffic_to_the_backup() -> None:
    breakers = CircuitBreakers(clock=Clock())
    primary, _backup, llm = primary_and_backup()
    primary.breaker = breakers.get("llm:primary", BreakerPolicy(1, 30))
    primary.breaker.record_failure()
    text, _ = await llm.complete(ASK)
    assert text == "backup answer"
    assert primary.requests == []
    with pytest.raises(CircuitOpenError):
        primary.breaker.check()

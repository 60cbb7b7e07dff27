"""One deadline per turn, stated truly; Retry-After honoured up to a cap; failover inside it.

Issue 12, item 8: with the defaults a hanging Gemini took 94 s to fail while the
message said "within 30 s", and with failover the answer came after more than
3 minutes. Each case runs the real SDK against the local Gemini-compatible
server, with deadlines short enough for a test.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator

import pytest

from tests.cli_helpers import run_va
from tests.gemini_fixtures import TEST_KEY
from voice_agent_cli.contracts.events import Notice, TurnCompleted
from voice_agent_cli.contracts.messages import ChatMessage
from voice_agent_cli.contracts.secrets import Secret
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.errors import LLMQuotaError
from voice_agent_cli.llm.base import LLMRequest
from voice_agent_cli.llm.fallback import FallbackLLM
from voice_agent_cli.llm.gemini import GeminiLLM
from voice_agent_cli.resilience import Deadline, RetryPolicy
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing import fake_gemini as script
from voice_agent_cli.testing.fake_gemini import FakeGemini

QUESTION = [ChatMessage(role="user", content="What is the tallest mountain?")]


class RecordedSleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
def sleeps() -> RecordedSleeps:
    return RecordedSleeps()


@pytest.fixture
async def gemini(fake_gemini: FakeGemini, sleeps: RecordedSleeps) -> AsyncIterator[GeminiLLM]:
    llm = GeminiLLM(
        api_key=Secret(TEST_KEY, "GEMINI_API_KEY"),
        timeout_s=30.0,  # the default per-chunk timeout: the turn's deadline must win
        retry=RetryPolicy(max_retries=2, max_delay_s=5.0, sleep=sleeps),
    )
    yield llm
    await llm.aclose()


async def test_a_hanging_gemini_fails_at_the_turns_deadline_and_says_so(
    gemini: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(script.hang(), script.hang(), script.hang())
    agent = Agent(gemini, AgentOptions(system_prompt="s", turn_timeout_s=1.5))
    started = time.monotonic()
    done = await agent.reply("What is the tallest mountain?")
    elapsed = time.monotonic() - started
    assert done.source == "degraded"
    assert "did not answer within the turn's deadline of 1.5 s" in done.details["error"]
    assert elapsed < 1.5 + 2.0, f"bounded by the deadline, took {elapsed:.1f} s"


async def test_failover_happens_within_the_same_deadline(
    gemini: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(script.hang(), script.hang())
    backup = FakeLLM(responder=lambda request: "answered offline", model="local")
    agent = Agent(
        FallbackLLM([gemini, backup]), AgentOptions(system_prompt="s", turn_timeout_s=2.0)
    )
    started = time.monotonic()
    events = [event async for event in agent.run_turn("What is the tallest mountain?")]
    elapsed = time.monotonic() - started
    done = events[-1]
    assert isinstance(done, TurnCompleted) and done.reply == "answered offline"
    assert any(isinstance(e, Notice) and "unavailable" in e.message for e in events)
    # Gemini had its even share (1 s) of the 2 s; the fallback the rest.
    assert elapsed < 2.0 + 1.0, f"took {elapsed:.1f} s"
    (request,) = backup.requests
    assert request.deadline is not None and request.deadline.remaining() > 0


async def test_retry_after_is_honoured(
    gemini: GeminiLLM, fake_gemini: FakeGemini, sleeps: RecordedSleeps
) -> None:
    fake_gemini.enqueue(script.rate_limited(retry_delay_s=2), script.text("Everest."))
    reply, _ = await gemini.complete(LLMRequest(system="s", messages=QUESTION))
    assert reply == "Everest."
    assert sleeps.delays == [2.0], "waited what the server asked, not a random backoff"


async def test_a_retry_after_beyond_the_cap_is_not_waited_for(
    gemini: GeminiLLM, fake_gemini: FakeGemini, sleeps: RecordedSleeps
) -> None:
    fake_gemini.enqueue(script.rate_limited(retry_delay_s=120))
    with pytest.raises(LLMQuotaError) as raised:
        await gemini.complete(LLMRequest(system="s", messages=QUESTION))
    assert sleeps.delays == []
    assert raised.value.retry_after_s == 120
    assert len(fake_gemini.requests) == 1


async def test_a_retry_after_past_the_deadline_fails_at_once_for_the_fallback(
    gemini: GeminiLLM, fake_gemini: FakeGemini, sleeps: RecordedSleeps
) -> None:
    fake_gemini.enqueue(script.rate_limited(retry_delay_s=4))
    backup = FakeLLM(responder=lambda request: "answered offline", model="local")
    llm = FallbackLLM([gemini, backup])
    reply, _ = await llm.complete(
        LLMRequest(system="s", messages=QUESTION, deadline=Deadline.after(6.0))
    )
    assert reply == "answered offline"
    assert sleeps.delays == [], "Gemini's 3 s share could not hold a 4 s wait"


def test_the_cli_message_states_the_real_bound(fake_gemini: FakeGemini) -> None:
    fake_gemini.enqueue(script.hang(), script.hang(), script.hang())
    env = {
        "GEMINI_API_KEY": TEST_KEY,
        "GOOGLE_GEMINI_BASE_URL": fake_gemini.base_url,
        "NO_PROXY": "127.0.0.1,localhost",
        "VA_RESILIENCE__FALLBACK": "[]",
        "VA_LLM__TURN_TIMEOUT_S": "2",
    }
    started = time.monotonic()
    result = run_va("chat", "-m", "What is the tallest mountain?", env=env)
    assert result.exit_code == 1
    assert "did not answer within the turn's deadline of 2 s (llm.turn_timeout_s)" in (
        result.stderr
    )
    assert time.monotonic() - started < 2 + 5

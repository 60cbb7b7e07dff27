"""The buffer inside the agent: what is answered without the LLM, and what never is."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import pytest

from voice_agent_cli.buffer import ResponseBuffer, build_buffer
from voice_agent_cli.buffer.disk import DiskReplyStore
from voice_agent_cli.compose.agent import agent_options, open_agent
from voice_agent_cli.config import load_settings
from voice_agent_cli.contracts.events import TextDelta, TurnCompleted
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing.fake_llm import tool_call
from voice_agent_cli.tools.base import FunctionTools


def answering(reply: str = "Paris is the capital of France.") -> FakeLLM:
    return FakeLLM(responder=lambda request: reply)


@asynccontextmanager
async def buffered_agent(llm: FakeLLM, profile: str = "default") -> AsyncIterator[Agent]:
    """An agent with the profile's buffer, as open_agent wires it (without the MCP tools)."""
    settings = load_settings(profile)
    buffer = build_buffer(settings)
    agent = Agent(llm, agent_options(settings), buffer=buffer)
    try:
        yield agent
    finally:
        if buffer is not None:
            await buffer.aclose()


async def test_a_second_identical_question_is_served_from_the_cache_without_the_llm() -> None:
    llm = answering()
    async with buffered_agent(llm) as agent:
        first = await agent.reply("What is the capital of France?")
        events = [e async for e in agent.run_turn("Um, what's the capital of France?")]
    assert first.source == "llm"
    completed = events[-1]
    assert isinstance(completed, TurnCompleted)
    assert completed.source == "cache"
    assert completed.reply == "Paris is the capital of France."
    assert completed.llm == first.llm  # who wrote the cached reply
    assert [e.text for e in events if isinstance(e, TextDelta)] == [completed.reply]
    assert len(llm.requests) == 1
    # The cached answer is part of the conversation like any other.
    assert [m.content for m in agent.conversation.messages][-2:] == [
        "Um, what's the capital of France?",
        "Paris is the capital of France.",
    ]


async def test_the_cache_outlives_the_agent(isolated_env: Path) -> None:
    async with buffered_agent(answering()) as agent:
        await agent.reply("What is the capital of France?")
    llm = answering("something else")
    async with buffered_agent(llm) as agent:
        again = await agent.reply("What is the capital of France?")
    assert (again.source, again.reply) == ("cache", "Paris is the capital of France.")
    assert llm.requests == []
    store = DiskReplyStore(isolated_env / "cache")
    try:
        counters = await store.read_counters()  # saved when each agent closed
    finally:
        await store.aclose()
    assert (counters["cache_hits"], counters["misses"], counters["stores"]) == (1, 1, 1)


async def test_open_agent_wires_the_profile_buffer_and_closes_it() -> None:
    llm = answering()
    async with open_agent(load_settings("default"), llm=llm) as agent:
        buffer = agent.buffer
        assert isinstance(buffer, ResponseBuffer)
        completed = await agent.reply("Hello!")
        await agent.reply("What is the capital of France?")
        assert (await agent.reply("What is the capital of France?")).source == "cache"
    assert (completed.source, completed.reply) == ("prebuffered", "Hello! How can I help you?")
    assert "buffer_lookup" in completed.timings
    assert len(llm.requests) == 1
    assert isinstance(buffer.cache, DiskReplyStore) and buffer.cache.closed


async def test_the_time_is_never_served_stale() -> None:
    llm = answering("It is noon.")
    async with buffered_agent(llm) as agent:
        for _ in range(2):
            assert (await agent.reply("Is it morning now in Tokyo?")).source == "llm"
    assert len(llm.requests) == 2


async def test_a_reply_that_used_a_tool_is_not_cached(tmp_path: Path) -> None:
    tools = FunctionTools()
    tools.add(lambda: "12:00", name="lookup_opening_hours", description="Opening hours.")
    llm = FakeLLM(
        [[tool_call("lookup_opening_hours")], "We open at noon.",
         [tool_call("lookup_opening_hours")], "We open at noon."]
    )  # fmt: skip
    buffer = build_buffer(load_settings("default"))
    assert buffer is not None
    agent = Agent(llm, AgentOptions(system_prompt="test"), tools=tools, buffer=buffer)
    try:
        assert (await agent.reply("When do you open?")).source == "llm"
        assert (await agent.reply("When do you open?")).source == "llm"
    finally:
        await buffer.aclose()
    assert buffer.snapshot().counters["not_cacheable"] == 2


async def test_a_follow_up_is_not_reused_in_another_conversation() -> None:
    llm = FakeLLM(["Paris.", "About 105 square kilometres.", "Madrid.", "About 604 square km."])
    async with buffered_agent(llm) as agent:
        france = agent.new_conversation()
        spain = agent.new_conversation()
        await agent.reply("What is the capital of France?", conversation=france)
        await agent.reply("How big is it?", conversation=france)
        await agent.reply("What is the capital of Spain?", conversation=spain)
        answer = await agent.reply("How big is it?", conversation=spain)
    assert (answer.source, answer.reply) == ("llm", "About 604 square km.")


@pytest.mark.parametrize(
    ("variables", "has_buffer", "has_cache"),
    [
        ({}, True, True),
        ({"VA_CACHE__ENABLED": "false"}, True, False),
        ({"VA_CACHE__ENABLED": "false", "VA_BUFFER__ENABLED": "false"}, False, False),
    ],
)
async def test_the_profile_turns_layers_off(
    monkeypatch: pytest.MonkeyPatch,
    variables: dict[str, str],
    has_buffer: bool,
    has_cache: bool,
) -> None:
    for name, value in variables.items():
        monkeypatch.setenv(name, value)
    async with buffered_agent(answering()) as agent:
        assert (agent.buffer is not None) == has_buffer
        if isinstance(agent.buffer, ResponseBuffer):
            assert (agent.buffer.cache is not None) == has_cache
        await agent.reply("What is the capital of France?")
        second = await agent.reply("What is the capital of France?")
    assert second.source == ("cache" if has_cache else "llm")

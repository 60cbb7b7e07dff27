"""Rate limits: per user, per IP, concurrent tool calls, expert consultations."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from voice_agent_cli.config import load_settings
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.core.settings import RateLimitSettings
from voice_agent_cli.errors import ConfigError, RateLimited
from voice_agent_cli.ratelimit import RateLimits
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing.fake_llm import tool_call
from voice_agent_cli.tools.base import FunctionTools


def test_defaults_are_the_seeds_limits() -> None:
    settings = RateLimitSettings()
    assert settings.per_user == "100/15 minutes"
    assert settings.per_ip == "1000/hour"
    assert settings.concurrent_tool_calls_per_user == 10
    assert settings.expert_consultations == "5/minute"


def test_the_101st_request_of_a_user_is_refused_with_a_clear_message() -> None:
    limits = RateLimits(RateLimitSettings())
    for _ in range(100):
        limits.check_request("alice")
    with pytest.raises(RateLimited, match=r"100/15 minutes per user\): try again in \d+ s"):
        limits.check_request("alice")
    limits.check_request("bob")  # others are not affected


def test_per_ip_limits_count_every_user_of_that_address() -> None:
    limits = RateLimits(RateLimitSettings(per_ip="3/hour"))
    for user in ("a", "b", "c"):
        limits.check_request(user, ip="10.0.0.1")
    with pytest.raises(RateLimited, match="per IP address"):
        limits.check_request("d", ip="10.0.0.1")


def test_limits_can_be_switched_off() -> None:
    limits = RateLimits(RateLimitSettings(enabled=False, per_user="1/hour"))
    for _ in range(5):
        limits.check_request("alice")


def test_a_bad_rate_in_a_profile_is_a_config_error(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text('[rate_limits]\nper_user = "lots"\n')
    with pytest.raises(ConfigError, match=r"rate_limits\.per_user"):
        load_settings(path, environ={})


async def test_the_agent_refuses_a_limited_request_and_records_nothing() -> None:
    llm = FakeLLM()
    agent = Agent(
        llm,
        AgentOptions(system_prompt="s"),
        limits=RateLimits(RateLimitSettings(per_user="2/minute")),
    )
    await agent.reply("one")
    await agent.reply("two")
    with pytest.raises(RateLimited):
        await agent.reply("three")
    assert len(llm.requests) == 2
    assert [m.content for m in agent.conversation.messages if m.role == "user"] == ["one", "two"]


async def test_concurrent_tool_calls_are_capped_per_user() -> None:
    running = 0
    peak = 0

    async def slow_tool() -> str:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        await asyncio.sleep(0.02)
        running -= 1
        return "done"

    tools = FunctionTools()
    tools.add(slow_tool)
    calls = [tool_call("slow_tool", call_id=f"c{i}") for i in range(6)]
    agent = Agent(
        FakeLLM([calls, "all done"]),
        AgentOptions(system_prompt="s"),
        tools=tools,
        limits=RateLimits(RateLimitSettings(concurrent_tool_calls_per_user=2)),
    )
    done = await agent.reply("run them")
    assert done.tool_calls == ("slow_tool",) * 6
    assert peak == 2

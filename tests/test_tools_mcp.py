"""MCPTools against real server processes: namespacing, timeouts, isolation, restarts, health."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

from tests.mcp_helpers import eventually, mcp, missing, script, shipped
from voice_agent_cli.contracts.messages import ToolCall
from voice_agent_cli.resilience import BreakerPolicy
from voice_agent_cli.tools.health import HealthState
from voice_agent_cli.tools.mcp import MCPTools
from voice_agent_cli.tools.names import LLM_NAME
from voice_agent_cli.tools.settings import MCPServerSettings


def call(name: str, **arguments: object) -> ToolCall:
    return ToolCall(id="t", name=name, arguments=dict(arguments))


def state(tools: MCPTools, server: str) -> HealthState:
    return next(s.state for s in tools.health() if s.server == server)


async def test_two_servers_with_the_same_tool_are_namespaced(tmp_path: Path) -> None:
    settings = mcp(
        {
            "alpha": script("hanging", env={"SERVER_LABEL": "alpha"}),
            "beta-2": script("hanging", env={"SERVER_LABEL": "beta"}),
        }
    )
    async with MCPTools(settings) as tools:
        names = [spec.name for spec in tools.specs()]
        assert "alpha__ping" in names and "beta_2__ping" in names
        assert all(LLM_NAME.match(name) for name in names)
        assert (await tools.call(call("alpha__ping"))).text == "pong from alpha"
        assert (await tools.call(call("beta_2__ping"))).text == "pong from beta"
        # The CLI's SERVER.TOOL names the same tools.
        listed = {info.qualified for info in tools.tools()}
        assert {"alpha.ping", "beta-2.ping", "alpha.hang"} <= listed


async def test_a_timeout_really_cancels_the_call_on_the_server(tmp_path: Path) -> None:
    settings = mcp({"slow": script("hanging", marker_dir=tmp_path, timeout_s=0.5)})
    async with MCPTools(settings) as tools:
        result = await tools.call(call("slow__hang"))
        assert result.is_error
        assert result.text == "slow.hang failed: timed out after 0.5 s"
        # The server saw notifications/cancelled and stopped the work.
        await eventually(lambda: (tmp_path / "cancelled").exists())
        assert state(tools, "slow") == HealthState.DEGRADED
        # Still alive, and one good answer makes it healthy again.
        assert (await tools.call(call("slow__ping"))).text == "pong from hanging"
        assert state(tools, "slow") == HealthState.UP


async def test_broken_servers_never_take_down_the_others(tmp_path: Path) -> None:
    settings = mcp(
        {
            "good": shipped(),
            "hangs": script("hanging", timeout_s=0.5),
            "crashes": script("crashing", marker_dir=tmp_path),
            "missing": missing(),
            "garbage": script("garbage", startup_timeout_s=1.0),
        }
    )
    async with MCPTools(settings) as tools:
        assert state(tools, "good") == HealthState.UP
        assert state(tools, "missing") == HealthState.DOWN
        assert state(tools, "garbage") == HealthState.DOWN
        results = await asyncio.gather(
            tools.call(call("hangs__hang")),
            tools.call(call("crashes__crash")),
            tools.call(call("good__calculate", expression="6*7")),
            tools.call(call("missing__anything")),
        )
        hang, crash, good, unknown = results
        assert good.text == "6*7 = 42" and not good.is_error
        assert hang.is_error and "timed out" in hang.text
        assert crash.is_error and "connection to the server was lost" in crash.text
        assert unknown.is_error and unknown.text == "unknown tool 'missing__anything'"
        again = await tools.call(call("good__calculate", expression="1+1"))
        assert again.text == "1+1 = 2"
        statuses = {s.server: s for s in tools.health()}
        assert "command not found" in (statuses["missing"].last_error or "")
        assert "did not finish starting within 1 s" in (statuses["garbage"].last_error or "")
        assert "non-MCP output" in (statuses["garbage"].last_error or "")


async def test_a_dead_server_is_restarted_with_backoff(tmp_path: Path) -> None:
    settings = mcp({"crashes": script("crashing", marker_dir=tmp_path)})
    async with MCPTools(settings) as tools:
        connection = tools.connection("crashes")
        result = await tools.call(call("crashes__crash"))
        assert result.is_error
        assert await connection.wait_up(8.0)
        assert (await tools.call(call("crashes__ping"))).text == "pong from crashing"
        health = tools.health()[0]
        assert health.restarts == 1
        assert health.state == HealthState.UP
        assert (tmp_path / "starts").read_text().count("x") == 2


async def test_a_missing_server_is_retried_with_a_growing_delay() -> None:
    settings = mcp({"missing": missing()}, restart_backoff_s=0.05, restart_backoff_max_s=10)
    async with MCPTools(settings) as tools:
        status = tools.health()[0]
        assert status.state == HealthState.DOWN
        assert status.next_restart_in_s == 0.05
        connection = tools.connection("missing")
        await eventually(lambda: (connection.health.next_restart_in_s or 0) >= 0.2)
        result = await tools.call(call("missing__x"))
        assert result.is_error


async def test_calls_fail_fast_while_the_circuit_is_open(tmp_path: Path) -> None:
    settings = mcp({"slow": script("hanging", marker_dir=tmp_path, timeout_s=0.2)})
    async with MCPTools(settings, breaker_policy=BreakerPolicy(2, 0.5)) as tools:
        for _ in range(2):
            assert (await tools.call(call("slow__hang"))).is_error
        assert state(tools, "slow") == HealthState.CIRCUIT_OPEN
        refused = await tools.call(call("slow__ping"))
        assert refused.is_error and "circuit open after 2 failures" in refused.text
        # After the cool-down one trial call goes through, and closes the circuit.
        await eventually(lambda: state(tools, "slow") != HealthState.CIRCUIT_OPEN)
        assert (await tools.call(call("slow__ping"))).text == "pong from hanging"
        assert state(tools, "slow") == HealthState.UP


async def test_six_calls_run_concurrently_on_one_server() -> None:
    async with MCPTools(mcp({"s": script("hanging")})) as tools:
        # Each call waits until six are in flight at once: serialised calls would time out.
        results = await asyncio.gather(*(tools.call(call("s__barrier", n=6)) for _ in range(6)))
        assert [r.text for r in results] == ["6 calls in flight"] * 6


async def test_tools_are_listed_again_when_the_server_says_they_changed() -> None:
    async with MCPTools(mcp({"s": script("hanging")})) as tools:
        assert "s__extra" not in [spec.name for spec in tools.specs()]
        assert (await tools.call(call("s__grow"))).text == "grown"
        await eventually(lambda: "s__extra" in [spec.name for spec in tools.specs()])
        assert (await tools.call(call("s__extra"))).text == "extra!"


async def test_an_idempotent_tool_is_retried_once_after_a_crash(tmp_path: Path) -> None:
    settings = mcp({"c": script("crashing", marker_dir=tmp_path, idempotent=["crash_once"])})
    async with MCPTools(settings) as tools:
        result = await tools.call(call("c__crash_once"))
        assert result.text == "survived"
        assert (tmp_path / "calls").read_text().count("x") == 2


async def test_other_tools_are_never_retried(tmp_path: Path) -> None:
    settings = mcp({"c": script("crashing", marker_dir=tmp_path)})
    async with MCPTools(settings) as tools:
        result = await tools.call(call("c__crash_once"))
        assert result.is_error
        assert (tmp_path / "calls").read_text().count("x") == 1


async def test_noise_on_stdout_is_survived_and_counted() -> None:
    async with MCPTools(mcp({"noisy": script("garbage", "--noisy")})) as tools:
        result = await tools.call(call("noisy__chatty"))
        assert result.text == "answered despite the noise"
        assert tools.connection("noisy").bad_messages == 1


async def test_closing_stops_servers_with_calls_in_flight(tmp_path: Path) -> None:
    tools = MCPTools(mcp({"slow": script("hanging", marker_dir=tmp_path, timeout_s=30)}))
    await tools.start()
    pending = asyncio.create_task(tools.call(call("slow__hang")))
    await asyncio.sleep(0.2)
    await tools.aclose()
    result = await asyncio.wait_for(pending, 5)
    assert result.is_error


async def test_a_missing_environment_variable_is_named_and_never_a_value() -> None:
    server = script("hanging", env={"API_TOKEN": "${VA_TEST_UNSET_TOKEN}", "OTHER": "s3cret"})
    async with MCPTools(mcp({"s": server}), environ={"PATH": "/usr/bin"}) as tools:
        status = tools.health()[0]
        assert status.state == HealthState.DOWN
        assert "${VA_TEST_UNSET_TOKEN}" in (status.last_error or "")
        assert "s3cret" not in repr(tools.health())


async def test_environment_references_reach_the_server(tmp_path: Path) -> None:
    server = script("hanging", env={"SERVER_LABEL": "${VA_TEST_LABEL}"})
    async with MCPTools(mcp({"s": server}), environ={"VA_TEST_LABEL": "from-env"}) as tools:
        assert (await tools.call(call("s__ping"))).text == "pong from from-env"
        assert re.search(r"python[\d.]* .*hanging\.py", tools.health()[0].target)


async def test_a_server_that_never_answers_does_not_hold_up_the_others() -> None:
    # `sleep` reads no stdin and ignores its end: the SDK has to terminate it.
    silent = MCPServerSettings(command="sleep", args=["30"], startup_timeout_s=0.5)
    async with MCPTools(mcp({"silent": silent, "good": shipped()})) as tools:
        assert state(tools, "good") == HealthState.UP
        assert state(tools, "silent") in (HealthState.STARTING, HealthState.DOWN)
        assert (await tools.call(call("good__calculate", expression="2*3"))).text == "2*3 = 6"
        await eventually(lambda: state(tools, "silent") == HealthState.DOWN)
        assert "did not finish starting within 0.5 s" in (tools.health()[0].last_error or "")

"""The agent with MCP tools: what the LLM is offered, what it gets back, and the filler."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.mcp_helpers import mcp, script, shipped
from voice_agent_cli.compose.agent import open_agent
from voice_agent_cli.config import load_settings
from voice_agent_cli.contracts.events import (
    FillerSpeech,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnCompleted,
)
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.llm.gemini import GeminiLLM
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing import fake_gemini as gemini_script
from voice_agent_cli.testing.fake_gemini import FakeGemini
from voice_agent_cli.testing.fake_llm import tool_call
from voice_agent_cli.tools.base import FunctionTools
from voice_agent_cli.tools.mcp import MCPTools

OPTIONS = AgentOptions(system_prompt="You are a test.", max_tool_steps=3)


async def events_of(agent: Agent, text: str) -> list[object]:
    return [event async for event in agent.run_turn(text)]


async def test_the_llm_calls_an_mcp_tool_and_reads_its_result() -> None:
    llm = FakeLLM([[tool_call("va__calculate", expression="6*7")], "It is 42."])
    async with MCPTools(mcp({"va": shipped()})) as tools:
        agent = Agent(llm, OPTIONS, tools=tools)
        events = await events_of(agent, "What is six times seven?")

    offered = {spec.name: spec for spec in llm.requests[0].tools}
    assert offered["va__calculate"].parameters == {
        "type": "object",
        "properties": {
            "expression": {
                "type": "string",
                "description": "arithmetic such as (12.5 * 3) / 4 or sqrt(2) ^ 3",
            }
        },
        "required": ["expression"],
    }
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert finished.result.text == "6*7 = 42" and not finished.result.is_error
    # The result reached the LLM in its next request.
    tool_message = llm.requests[1].messages[-1]
    assert tool_message.role == "tool"
    assert tool_message.tool_name == "va__calculate"
    assert tool_message.tool_result is not None
    assert tool_message.tool_result.as_payload() == {
        "result": "6*7 = 42",
        "structured": {"expression": "6*7", "result": 42},
    }
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.reply == "It is 42."
    assert done.tool_calls == ("va__calculate",)


async def test_a_tool_that_times_out_is_an_error_the_llm_sees(tmp_path: Path) -> None:
    llm = FakeLLM([[tool_call("slow__hang")], "Sorry, that took too long."])
    settings = mcp({"slow": script("hanging", marker_dir=tmp_path, timeout_s=0.3)})
    async with MCPTools(settings) as tools:
        agent = Agent(llm, OPTIONS, tools=tools)
        done = await agent.reply("Wait for it")
    result = llm.requests[1].messages[-1].tool_result
    assert result is not None and result.is_error
    assert result.as_payload() == {"error": "slow.hang failed: timed out after 0.3 s"}
    assert done.reply == "Sorry, that took too long."


def sleepy_tools(seconds: float) -> FunctionTools:
    tools = FunctionTools()

    async def lookup() -> str:
        """A slow lookup."""
        await asyncio.sleep(seconds)
        return "found it"

    tools.add(lookup)
    return tools


async def test_a_slow_tool_gets_a_filler_phrase_before_its_result() -> None:
    options = AgentOptions(system_prompt="t", filler_after_s=0.05, filler_text="One moment.")
    llm = FakeLLM([[tool_call("lookup")], "Here it is."])
    events = await events_of(Agent(llm, options, tools=sleepy_tools(0.4)), "look it up")
    kinds = [type(e).__name__ for e in events if not isinstance(e, TextDelta)]
    assert kinds == ["ToolCallStarted", "FillerSpeech", "ToolCallFinished", "TurnCompleted"]
    assert FillerSpeech("One moment.") in events
    # The filler is not part of the reply (nor of the history).
    assert events[-1].reply == "Here it is."  # type: ignore[attr-defined]
    assert all("One moment" not in m.content for m in llm.requests[-1].messages)


async def test_a_fast_tool_or_no_delay_gets_no_filler() -> None:
    for options, seconds in (
        (AgentOptions(system_prompt="t", filler_after_s=2.0), 0.0),
        (AgentOptions(system_prompt="t", filler_after_s=None), 0.2),
    ):
        llm = FakeLLM([[tool_call("lookup")], "Done."])
        events = await events_of(Agent(llm, options, tools=sleepy_tools(seconds)), "go")
        assert not any(isinstance(e, FillerSpeech) for e in events)
        assert isinstance(events[0], ToolCallStarted)


async def test_stopping_a_turn_during_a_slow_tool_cancels_the_call() -> None:
    cancelled = asyncio.Event()
    tools = FunctionTools()

    async def lookup() -> str:
        """Never finishes."""
        try:
            await asyncio.sleep(30)
        finally:
            cancelled.set()
        return "never"

    tools.add(lookup)
    options = AgentOptions(system_prompt="t", filler_after_s=0.01)
    agent = Agent(FakeLLM([[tool_call("lookup")]]), options, tools=tools)
    turn = agent.run_turn("go")
    async for event in turn:
        if isinstance(event, FillerSpeech):
            break  # the user barged in
    await turn.aclose()
    assert cancelled.is_set()


async def test_open_agent_starts_the_profiles_servers(tmp_path: Path) -> None:
    path = tmp_path / "tools-only.toml"
    path.write_text(
        '[mcp]\nfiller_after_ms = 250\n\n[mcp.servers.va]\ncommand = "${VA_PYTHON}"\n'
        'args = ["-m", "voice_agent_cli.tools.server"]\n'
    )
    settings = load_settings(path)
    llm = FakeLLM([[tool_call("va__now", timezone="UTC")], "Done."])
    async with open_agent(settings, llm=llm) as agent:
        assert agent.options.filler_after_s == 0.25
        await agent.reply("What time is it in UTC?")
    result = llm.requests[1].messages[-1].tool_result
    assert result is not None and "(UTC, UTC+00:00)" in result.text


async def test_gemini_gets_the_declarations_and_the_tool_result(
    gemini: GeminiLLM, fake_gemini: FakeGemini
) -> None:
    # The real google-genai SDK, against the local Gemini-compatible server.
    fake_gemini.enqueue(
        gemini_script.function_call("va__calculate", {"expression": "2^10"}, call_id="fc-1"),
        gemini_script.text("Two to the tenth is 1024."),
    )
    async with MCPTools(mcp({"va": shipped()})) as tools:
        done = await Agent(gemini, OPTIONS, tools=tools).reply("What is 2 to the 10th?")
    assert done.reply == "Two to the tenth is 1024."
    first, second = fake_gemini.requests[-2:]
    declarations = {d["name"]: d for d in first.body["tools"][0]["functionDeclarations"]}
    assert set(declarations) >= {"va__now", "va__calculate", "va__add_note"}
    calculate = declarations["va__calculate"]
    schema = calculate.get("parametersJsonSchema") or calculate.get("parameters_json_schema")
    assert schema["required"] == ["expression"]
    response = second.function_responses[0]
    assert response["name"] == "va__calculate"
    assert response["response"] == {
        "result": "2^10 = 1024",
        "structured": {"expression": "2^10", "result": 1024},
    }

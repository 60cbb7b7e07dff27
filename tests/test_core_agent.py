"""The agent core against a scripted LLM: streaming, tools, bounds, interruption, failures."""

from __future__ import annotations

import asyncio

import pytest

from voice_agent_cli.contracts.events import (
    Notice,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnCompleted,
)
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.errors import LLMAuthError, LLMError, LLMNoAnswer, LLMServerError
from voice_agent_cli.llm.base import TextChunk
from voice_agent_cli.resilience import RetryPolicy
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing.fake_llm import tool_call
from voice_agent_cli.tools.base import FunctionTools

OPTIONS = AgentOptions(system_prompt="You are a test.", max_tool_steps=3)


def clock_tools() -> FunctionTools:
    tools = FunctionTools()

    def get_time() -> str:
        """The current time."""
        return "12:00"

    tools.add(get_time)
    return tools


async def events_of(agent: Agent, text: str) -> list[object]:
    return [event async for event in agent.run_turn(text)]


async def test_a_turn_streams_deltas_then_completes_with_timings() -> None:
    agent = Agent(FakeLLM(["Paris is the capital of France."]), OPTIONS)
    events = await events_of(agent, "capital of France?")
    deltas = [e.text for e in events if isinstance(e, TextDelta)]
    assert len(deltas) > 1
    assert "".join(deltas) == "Paris is the capital of France."
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.reply == "Paris is the capital of France."
    assert done.source == "llm"
    assert done.llm == "fake:scripted"
    assert {"llm_ttft", "total"} <= set(done.timings)
    assert [m.role for m in agent.conversation.messages] == ["user", "assistant"]


async def test_the_llm_gets_system_prompt_history_and_tools() -> None:
    llm = FakeLLM()
    agent = Agent(llm, OPTIONS, tools=clock_tools())
    await agent.reply("first")
    await agent.reply("second")
    request = llm.requests[-1]
    assert request.system == "You are a test."
    assert [m.content for m in request.messages] == ["first", "You said: first", "second"]
    assert [t.name for t in request.tools] == ["get_time"]


async def test_tool_calls_run_and_their_results_go_back_to_the_llm() -> None:
    llm = FakeLLM([[tool_call("get_time")], "It is noon."])
    agent = Agent(llm, OPTIONS, tools=clock_tools())
    events = await events_of(agent, "what time is it?")
    started = [e for e in events if isinstance(e, ToolCallStarted)]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert [e.call.name for e in started] == ["get_time"]
    assert finished[0].result.text == "12:00"
    second_request = llm.requests[1]
    tool_message = second_request.messages[-1]
    assert tool_message.role == "tool"
    assert tool_message.content == "12:00"
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.reply == "It is noon."
    assert done.tool_calls == ("get_time",)
    assert "tool_time" in done.timings


async def test_tool_steps_are_bounded() -> None:
    looping = FakeLLM(responder=lambda request: [tool_call("get_time")])
    agent = Agent(looping, AgentOptions(system_prompt="s", max_tool_steps=2), tools=clock_tools())
    events: list[object] = []
    # A model that never answers in text leaves no reply: the turn says so, not silence.
    with pytest.raises(LLMNoAnswer, match="gave an empty reply"):
        async for event in agent.run_turn("loop forever"):
            events.append(event)
    assert sum(isinstance(e, ToolCallStarted) for e in events) == 2
    assert any(isinstance(e, Notice) and "step limit" in e.message for e in events)
    # the last request offers no tool use, so a real model must answer in text
    assert looping.requests[-1].allow_tools is False


async def test_an_unknown_tool_comes_back_as_an_error_result() -> None:
    llm = FakeLLM([[tool_call("launch_rockets")], "I cannot do that."])
    agent = Agent(llm, OPTIONS, tools=clock_tools())
    events = await events_of(agent, "launch")
    finished = next(e for e in events if isinstance(e, ToolCallFinished))
    assert finished.result.is_error
    assert "unknown tool" in finished.result.text


async def test_a_consumer_that_stops_reading_records_an_interrupted_reply() -> None:
    agent = Agent(FakeLLM(["one two three four five"], chunk_delay_s=0.01), OPTIONS)
    turn = agent.run_turn("count")
    first = await anext(turn)
    assert isinstance(first, TextDelta)
    await turn.aclose()  # barge-in
    last = agent.conversation.messages[-1]
    assert last.role == "assistant"
    assert last.interrupted
    assert last.content == "one "


async def test_a_failed_turn_leaves_no_trace_in_the_history() -> None:
    agent = Agent(FakeLLM([LLMAuthError("bad key")]), OPTIONS)
    with pytest.raises(LLMAuthError):
        await agent.reply("hello")
    assert len(agent.conversation) == 0


async def test_retryable_errors_are_retried_before_the_first_chunk() -> None:
    slept: list[float] = []

    async def no_sleep(seconds: float) -> None:
        slept.append(seconds)

    llm = FakeLLM(
        [LLMServerError("503"), LLMServerError("503"), "finally"],
        retry=RetryPolicy(max_retries=2, sleep=no_sleep),
    )
    reply = await Agent(llm, OPTIONS).reply("try")
    assert reply.reply == "finally"
    assert len(slept) == 2


async def test_non_retryable_errors_fail_at_once() -> None:
    llm = FakeLLM([LLMAuthError("bad key"), "never"], retry=RetryPolicy(max_retries=3))
    with pytest.raises(LLMAuthError):
        await Agent(llm, OPTIONS).reply("try")
    assert len(llm.requests) == 1


async def test_retries_are_bounded_then_the_turn_degrades() -> None:
    async def no_sleep(seconds: float) -> None:
        return None

    llm = FakeLLM([LLMServerError("500")] * 5, retry=RetryPolicy(max_retries=2, sleep=no_sleep))
    agent = Agent(llm, OPTIONS)
    events = [e async for e in agent.run_turn("try")]
    assert len(llm.requests) == 3
    notices = [e for e in events if isinstance(e, Notice)]
    assert len(notices) == 1 and "degraded mode" in notices[0].message
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert done.source == "degraded"
    assert done.reply == OPTIONS.degraded_reply
    assert done.details["exit_code"] == 1
    assert agent.degraded
    assert len(agent.conversation) == 0  # the degraded notice is not conversation


async def test_a_stalled_provider_times_out_and_degrades() -> None:
    llm = FakeLLM(latency_s=5.0, timeout_s=0.05)
    done = await Agent(llm, OPTIONS).reply("hello")
    assert done.source == "degraded"
    assert "did not answer within 0.05 s" in done.details["error"]


async def test_an_unexpected_provider_exception_becomes_an_llm_error() -> None:
    llm = FakeLLM([ZeroDivisionError("boom")])
    with pytest.raises(LLMError, match="failed unexpectedly"):
        await Agent(llm, OPTIONS).reply("hello")


async def test_an_error_after_the_first_chunk_is_not_retried() -> None:
    class Flaky(FakeLLM):
        async def _stream_impl(self, request):  # type: ignore[no-untyped-def]
            self.requests.append(request)
            yield TextChunk("partial ")
            raise LLMServerError("stream dropped")

    llm = Flaky(retry=RetryPolicy(max_retries=3))
    with pytest.raises(LLMServerError):
        await Agent(llm, OPTIONS).reply("hello")
    assert len(llm.requests) == 1


async def test_observers_see_every_event() -> None:
    seen: list[object] = []
    agent = Agent(FakeLLM(["hi there"]), OPTIONS)
    agent.add_observer(seen.append)
    await agent.reply("hello")
    assert isinstance(seen[-1], TurnCompleted)
    assert any(isinstance(e, TextDelta) for e in seen)


async def test_turns_on_one_conversation_take_turns() -> None:
    agent = Agent(FakeLLM(latency_s=0.02), OPTIONS)
    await asyncio.gather(agent.reply("a"), agent.reply("b"))
    roles = [m.role for m in agent.conversation.messages]
    assert roles == ["user", "assistant", "user", "assistant"]


async def test_separate_conversations_share_one_agent() -> None:
    agent = Agent(FakeLLM(), OPTIONS)
    room = agent.new_conversation()
    await agent.reply("in the room", conversation=room)
    await agent.reply("in the default")
    assert [m.content for m in room.messages] == ["in the room", "You said: in the room"]
    assert agent.conversation.messages[0].content == "in the default"


async def test_speaker_identity_is_kept_in_the_user_turn() -> None:
    llm = FakeLLM()
    agent = Agent(llm, OPTIONS)
    await agent.reply("hello", speaker="alice")
    assert llm.requests[0].messages[-1].speaker == "alice"

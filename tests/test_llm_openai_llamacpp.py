"""The openai provider against a REAL OpenAI-compatible server: llama-cpp-python's own.

One ``python -m llama_cpp.server`` with the embedded Qwen 0.5B serves the whole
session (tests/openai_fixtures.py). What it shows of llama-cpp-python 0.3.36:

- streaming works, but it never reports token usage in a stream
  (``stream_options`` is ignored);
- its automatic tool choice does not (the model's calls come back as text),
  while a named ``tool_choice`` streams real ``tool_calls`` deltas, with the
  id and name repeated in every delta;
- a prompt over its context streams nothing at all: the reason only comes
  back without streaming.
"""

from __future__ import annotations

import pytest

from tests.cli_helpers import json_lines, run_va_process
from tests.openai_fixtures import LLAMA_MODEL, LlamaCppServer
from voice_agent_cli.contracts.events import ToolCallFinished, TurnCompleted
from voice_agent_cli.contracts.messages import ChatMessage
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.errors import EXIT_FAILURE, LLMBadRequest
from voice_agent_cli.llm import stats
from voice_agent_cli.llm.base import LLMRequest, TextChunk
from voice_agent_cli.llm.openai import OpenAILLM
from voice_agent_cli.tools.base import FunctionTools

pytestmark = pytest.mark.slow


def _llm(server: LlamaCppServer, **options: object) -> OpenAILLM:
    return OpenAILLM(model=LLAMA_MODEL, base_url=server.base_url, timeout_s=60, **options)  # type: ignore[arg-type]


def _ask(text: str, max_tokens: int = 24) -> LLMRequest:
    return LLMRequest(
        system="You are a helpful assistant. Answer in one short sentence.",
        messages=[ChatMessage(role="user", content=text)],
        temperature=0.0,
        max_output_tokens=max_tokens,
    )


async def test_a_streamed_reply_from_the_real_server(llama: LlamaCppServer) -> None:
    llm = _llm(llama)
    try:
        with stats.collect() as calls:
            chunks = [c async for c in llm.stream(_ask("What is the capital of France?"))]
    finally:
        await llm.aclose()
    assert len(chunks) > 1 and all(isinstance(c, TextChunk) for c in chunks)
    assert "Paris" in "".join(c.text for c in chunks)  # type: ignore[union-attr]
    (call,) = calls
    assert call.ttft_ms is not None and call.ttft_ms < call.duration_ms
    assert call.prompt_tokens is None  # this server sends no usage when streaming


async def test_a_tool_call_round_trip_with_the_real_server(llama: LlamaCppServer) -> None:
    """A named tool_choice makes this server call the tool; its result goes back by id."""
    tools = FunctionTools()
    tools.add(
        lambda expression: str(eval(expression, {"__builtins__": {}})),  # digits and * only
        name="calculate",
        description="Evaluate an arithmetic expression exactly.",
        parameters={
            "type": "object",
            "properties": {"expression": {"type": "string", "pattern": "^[0-9 *+-]+$"}},
            "required": ["expression"],
        },
    )
    llm = _llm(llama, tool_choice="calculate")
    agent = Agent(
        llm,
        AgentOptions(system_prompt="You are a calculator assistant.", max_output_tokens=32),
        tools=tools,
    )
    try:
        events = [e async for e in agent.run_turn("What is 1234 times 5678?")]
    finally:
        await llm.aclose()
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert finished, "the server made no tool call"
    call = finished[0].call
    assert call.name == "calculate" and set(call.arguments) == {"expression"}
    assert call.id.startswith("call_")  # the server's own id, sent back with the result
    assert not finished[0].result.is_error
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    # The server took the history with the assistant's tool_calls and the tool message
    # (its pydantic request models are OpenAI's) and answered in text.
    assert done.reply.strip()
    history = agent.conversation.messages
    assert [m.role for m in history] == ["user", "assistant", "tool", "assistant"]


async def test_a_prompt_over_the_context_is_a_clear_error(llama: LlamaCppServer) -> None:
    llm = _llm(llama)
    try:
        with pytest.raises(LLMBadRequest) as raised:
            await llm.complete(_ask("Summarise this: " + "the cat sat on the mat. " * 400))
    finally:
        await llm.aclose()
    assert raised.value.exit_code == EXIT_FAILURE
    assert f"too long for {LLAMA_MODEL}'s context window" in str(raised.value)


def test_va_chat_on_the_real_server(llama: LlamaCppServer) -> None:
    env = {
        "VA_LLM": "openai",
        "OPENAI_BASE_URL": llama.base_url,
        "VA_OPENAI__MODEL": LLAMA_MODEL,
        "VA_LLM__MAX_OUTPUT_TOKENS": "24",
        "VA_RESILIENCE__FALLBACK": "[]",
        "VA_MCP__SERVERS__VA__ENABLED": "false",  # its automatic tool choice is broken
        "NO_PROXY": "127.0.0.1,localhost",
    }
    result = run_va_process(
        "chat", "--json", "-m", "What is the capital of Italy?", env=env, timeout=120
    )
    assert result.returncode == 0, result.stderr
    (turn,) = json_lines(result.stdout)
    assert turn["llm"] == f"openai:{LLAMA_MODEL}"
    assert turn["source"] == "llm" and "Rome" in turn["reply"]
    assert turn["timings"]["llm_ttft"] > 0

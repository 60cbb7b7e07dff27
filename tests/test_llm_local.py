"""The embedded llama.cpp model, loaded once for the whole session."""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from voice_agent_cli.contracts.events import TextDelta, ToolCallFinished, TurnCompleted
from voice_agent_cli.contracts.messages import ChatMessage, ToolSpec
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.errors import ModelUnavailable
from voice_agent_cli.llm.base import LLMRequest, TextChunk
from voice_agent_cli.llm.catalogue import QWEN_CODER_05B
from voice_agent_cli.llm.local import LocalLLM
from voice_agent_cli.llm.model_files import ChunkedModel, assemble
from voice_agent_cli.tools.base import FunctionTools

pytestmark = pytest.mark.slow


@pytest.fixture
async def local_llm() -> AsyncIterator[LocalLLM]:
    # llama.cpp models are cached per process: only the first test pays the load.
    llm = LocalLLM(model="qwen2.5-coder-0.5b", n_ctx=2048)
    await llm.start()
    yield llm
    await llm.aclose()


def test_the_bundled_model_assembles_with_the_right_checksum() -> None:
    path = assemble(QWEN_CODER_05B.file)
    assert path.stat().st_size == QWEN_CODER_05B.file.size
    assert path.name.endswith(".gguf")


def test_damaged_chunks_are_refused(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("VA_MODELS_DIR", str(tmp_path / "models"))
    part = tmp_path / "part.bin"
    part.write_bytes(b"not a model")

    class FakeChunks(ChunkedModel):
        def part_paths(self) -> list[Path]:
            return [part]

    wrong_sum = FakeChunks("x.gguf", (), part.stat().st_size, "0" * 64, "")
    with pytest.raises(ModelUnavailable, match="checksum mismatch"):
        assemble(wrong_sum)
    assert not (tmp_path / "models" / "x.gguf").exists()
    right = FakeChunks(
        "y.gguf", (), part.stat().st_size, hashlib.sha256(b"not a model").hexdigest(), ""
    )
    assert assemble(right).read_bytes() == b"not a model"


def test_a_missing_model_package_is_a_clear_error() -> None:
    missing = ChunkedModel("z.gguf", ("no_such_model_package",), 1, "0" * 64, "")
    with pytest.raises(ModelUnavailable, match="no-such-model-package is not installed"):
        assemble(missing)


async def test_a_missing_model_file_is_a_clear_error(tmp_path: Path) -> None:
    llm = LocalLLM(model=tmp_path / "nope.gguf")
    with pytest.raises(ModelUnavailable, match="not found"):
        await llm.start()


async def test_it_streams_a_sensible_answer(local_llm: LocalLLM) -> None:
    request = LLMRequest(
        system="Answer in one short sentence.",
        messages=[ChatMessage(role="user", content="What is the capital of France?")],
        temperature=0.0,
        max_output_tokens=40,
    )
    chunks = [chunk async for chunk in local_llm.stream(request)]
    assert len(chunks) > 1
    assert all(isinstance(c, TextChunk) for c in chunks)
    assert "Paris" in "".join(c.text for c in chunks if isinstance(c, TextChunk))


async def test_it_counts_tokens_with_its_tokenizer(local_llm: LocalLLM) -> None:
    assert local_llm.count_tokens("hello world") == 2


async def test_stopping_early_stops_generation_and_frees_the_model(local_llm: LocalLLM) -> None:
    request = LLMRequest(
        system="You are verbose.",
        messages=[ChatMessage(role="user", content="Write a long story about a dragon.")],
        max_output_tokens=400,
    )
    stream = local_llm.stream(request)
    await anext(stream)
    await stream.aclose()
    # the model is free again at once: a second request completes
    text, _ = await local_llm.complete(
        LLMRequest(
            system="Answer with one word.",
            messages=[ChatMessage(role="user", content="Say yes.")],
            max_output_tokens=5,
        )
    )
    assert text


async def test_the_agent_calls_a_tool_with_the_embedded_model(local_llm: LocalLLM) -> None:
    tools = FunctionTools()
    tools.add(
        lambda expression: str(eval(expression, {"__builtins__": {}})),  # test-only calculator
        name="calculate",
        description="Evaluates an arithmetic expression such as 2*(3+4).",
        parameters={
            "type": "object",
            "properties": {"expression": {"type": "string"}},
            "required": ["expression"],
        },
    )
    options = AgentOptions(system_prompt="Answer briefly.", temperature=0.0)
    agent = Agent(local_llm, options, tools=tools)
    events = [event async for event in agent.run_turn("What is 17 times 23?")]
    finished = [e for e in events if isinstance(e, ToolCallFinished)]
    assert finished and finished[0].result.text == "391"
    done = events[-1]
    assert isinstance(done, TurnCompleted)
    assert "391" in done.reply
    assert any(isinstance(e, TextDelta) for e in events)


async def test_a_plain_question_calls_no_tool(local_llm: LocalLLM) -> None:
    tools = FunctionTools()
    tools.add(lambda: "12:00", name="get_time", description="Returns the current time.")
    request = LLMRequest(
        system="Answer briefly.",
        messages=[ChatMessage(role="user", content="Who wrote Romeo and Juliet?")],
        tools=[ToolSpec("get_time", "Returns the current time.")],
        max_output_tokens=30,
        temperature=0.0,
    )
    _, calls = await local_llm.complete(request)
    assert calls == []


async def test_warming_up_puts_the_fixed_prompt_in_the_cache_before_the_first_turn(
    local_llm: LocalLLM,
) -> None:
    system = "You are a warm-up test. Answer in one short sentence."
    await local_llm.warm_up(system, [ToolSpec("get_time", "Returns the current time.")])

    def evaluated(llama: object) -> str:
        tokens = llama.input_ids[: llama.n_tokens].tolist()  # type: ignore[attr-defined]
        return llama.detokenize(tokens).decode("utf-8", "replace")  # type: ignore[attr-defined]

    # The first turn's prompt starts with these: llama.cpp reuses them, not re-reads them.
    assert local_llm._chat is not None and system in evaluated(local_llm._chat.llama)
    assert local_llm._decider is not None
    assert "get_time: Returns the current time." in evaluated(local_llm._decider.llama)

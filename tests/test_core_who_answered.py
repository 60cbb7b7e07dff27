"""Who answered is always true: failover labels, logs, metrics and caches the real author.

The primary is Gemini through the real google-genai SDK against the local
Gemini-compatible server (503 while "down", text once "back"); the fallback is
a scripted LLM here (the path under test is failover, cache and labels), and
the embedded model in the end-to-end ``va chat`` test.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import json_lines, run_va_process
from tests.gemini_fixtures import TEST_KEY
from voice_agent_cli.buffer import build_buffer
from voice_agent_cli.compose.agent import agent_options
from voice_agent_cli.config import load_settings
from voice_agent_cli.contracts.events import Notice, TurnCompleted
from voice_agent_cli.core.agent import Agent
from voice_agent_cli.llm.fallback import FallbackLLM
from voice_agent_cli.llm.gemini import GeminiLLM
from voice_agent_cli.llm.settings import DEFAULT_GEMINI_MODEL
from voice_agent_cli.observe import metrics
from voice_agent_cli.observe.turns import instrument
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing import fake_gemini as script
from voice_agent_cli.testing.fake_gemini import FakeGemini
from voice_agent_cli.ui.dashboard import render

GEMINI_DEFAULT = f"gemini:{DEFAULT_GEMINI_MODEL}"

QUESTION = "What is the capital of Peru?"
DOWN = [script.http_error(503)] * 3  # the first try and both retries


async def test_a_fallbacks_reply_is_labelled_and_cached_as_its_own(
    fake_gemini: FakeGemini, gemini: GeminiLLM
) -> None:
    backup = FakeLLM(responder=lambda request: "Lima, I believe.", model="backup")
    llm = FallbackLLM([gemini, backup])
    settings = load_settings("default")
    buffer = build_buffer(settings)
    assert buffer is not None and buffer.cache is not None
    agent = Agent(llm, agent_options(settings), buffer=buffer)
    registry = metrics.Metrics()
    instrument(agent, registry)
    try:
        fake_gemini.enqueue(*DOWN)
        down = [e async for e in agent.run_turn(QUESTION)]
        answered = down[-1]
        assert isinstance(answered, TurnCompleted)
        assert (answered.source, answered.llm) == ("llm", "fake:backup")
        assert any(
            isinstance(e, Notice) and "answering with fake:backup" in e.message for e in down
        )

        # Gemini is back: the same question gets Gemini's answer, not the backup's from the cache.
        fake_gemini.enqueue(script.text("Lima is the capital of Peru."))
        back = await agent.reply(QUESTION)
        assert (back.source, back.llm) == ("llm", GEMINI_DEFAULT)
        assert back.reply == "Lima is the capital of Peru."

        # And from now on the cache serves Gemini's reply, labelled as Gemini's.
        again = await agent.reply(QUESTION)
        assert (again.source, again.llm, again.reply) == (
            "cache",
            GEMINI_DEFAULT,
            "Lima is the capital of Peru.",
        )
        stored = {entry.llm: entry.reply for entry in await buffer.cache.entries()}
        assert stored == {
            "fake:backup": "Lima, I believe.",
            GEMINI_DEFAULT: "Lima is the capital of Peru.",
        }
    finally:
        await buffer.aclose()

    snapshot = registry.as_json()
    by_llm = {
        entry["labels"]["llm"]: entry["value"] for entry in snapshot["counters"]["replies_by_llm"]
    }
    assert by_llm == {"fake:backup": 1, GEMINI_DEFAULT: 2}
    events = [event["message"] for event in snapshot["events"]]
    assert any("by fake:backup" in message for message in events)
    from io import StringIO

    from rich.console import Console

    console = Console(file=StringIO(), width=140)
    console.print(render(snapshot))
    assert f"last reply by {GEMINI_DEFAULT}" in console.file.getvalue()  # type: ignore[attr-defined]


async def test_turns_side_by_side_each_see_their_own_provider(
    fake_gemini: FakeGemini, gemini: GeminiLLM
) -> None:
    """The label comes from the task that streamed, not from whoever answered last."""
    import asyncio

    reached = asyncio.Event()

    def answer(request: object) -> str:
        reached.set()
        return "from the backup"

    backup = FakeLLM(responder=answer, model="backup", latency_s=0.2)
    llm = FallbackLLM([gemini, backup])
    agent = Agent(llm, agent_options(load_settings("default")))
    await llm.start()
    fake_gemini.enqueue(*DOWN, script.text("from gemini", delay=0.05))
    slow = asyncio.create_task(agent.reply("first", conversation=agent.new_conversation()))
    await reached.wait()  # the first turn now waits on the backup
    fast = await agent.reply("second", conversation=agent.new_conversation())
    first = await slow
    assert (first.reply, first.llm) == ("from the backup", "fake:backup")
    assert (fast.reply, fast.llm) == ("from gemini", GEMINI_DEFAULT)


@pytest.mark.slow
def test_va_chat_names_the_embedded_model_when_it_answers_for_gemini(
    fake_gemini: FakeGemini, tmp_path: Path
) -> None:
    fake_gemini.enqueue(script.http_error(503))
    fake_gemini.enqueue(script.text("Lima is the capital of Peru."))
    metrics_file = tmp_path / "metrics.json"
    log_dir = tmp_path / "logs"
    result = run_va_process(
        "chat",
        "--json",
        "--llm",
        "gemini",
        "--log-level",
        "info",
        "--metrics-json",
        str(metrics_file),
        input=f"{QUESTION}\n{QUESTION}\n",
        env={
            "GEMINI_API_KEY": TEST_KEY,
            "GOOGLE_GEMINI_BASE_URL": fake_gemini.base_url,
            "NO_PROXY": "127.0.0.1,localhost",
            "VA_LLM__MAX_RETRIES": "0",
            "VA_RESILIENCE__FALLBACK": '["local"]',
            "VA_LOCAL_MODEL": "qwen2.5-coder-0.5b",
            "VA_LLM__TEMPERATURE": "0",
            "VA_OBSERVABILITY__LOG_DIR": str(log_dir),
        },
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    down, back = json_lines(result.stdout)
    assert down["llm"] == "local:qwen2.5-coder-0.5b" and down["source"] == "llm"
    assert "Lima" in down["reply"]
    assert "answering with local:qwen2.5-coder-0.5b" in result.stderr
    assert back["llm"] == GEMINI_DEFAULT
    assert (back["source"], back["reply"]) == ("llm", "Lima is the capital of Peru.")
    counted = json.loads(metrics_file.read_text())["counters"]["replies_by_llm"]
    assert {entry["labels"]["llm"] for entry in counted} == {
        "local:qwen2.5-coder-0.5b",
        GEMINI_DEFAULT,
    }
    logged = [json.loads(line) for line in (log_dir / "va.log").read_text().splitlines()]
    turns = [record for record in logged if record.get("message", "").startswith("turn completed")]
    assert [record["llm"] for record in turns] == [
        "local:qwen2.5-coder-0.5b",
        GEMINI_DEFAULT,
    ]


async def test_a_cached_reply_said_in_degraded_mode_names_the_llm_that_wrote_it() -> None:
    from voice_agent_cli.errors import LLMServerError

    llm = FakeLLM(["Lima is the capital of Peru.", LLMServerError("503"), LLMServerError("503")])
    settings = load_settings("default", {"llm.max_retries": 0})
    buffer = build_buffer(settings)
    agent = Agent(llm, agent_options(settings), buffer=buffer)
    follow_up = "And what about Peru?"  # keyed on the history: no plain cache hit later
    try:
        first = await agent.reply(follow_up)
        # The LLM is down now: the same words are answered from the cache, in degraded mode.
        down = await agent.reply(follow_up)
        other = await agent.reply("Who painted the Mona Lisa?")
    finally:
        assert buffer is not None
        await buffer.aclose()
    assert first.llm == "fake:scripted"
    assert (down.source, down.reply, down.llm) == (
        "degraded",
        "Lima is the capital of Peru.",
        "fake:scripted",
    )
    assert (other.source, other.llm) == ("degraded", None)  # the notice: no LLM wrote it

"""Bench scenario ``concurrency``: N simultaneous text sessions on one event loop.

Every session is its own agent (its own conversation, history and turn lock)
sharing one LLM, as ``va join`` serves several participants from one process:

- by default a :class:`~voice_agent_cli.testing.FakeLLM` whose first token comes
  after a fixed latency (``[bench] fake_llm_latency_ms``, 50 ms): va's own cost;
- with ``[bench] concurrency_llm = "profile"``, the profile's own LLM, e.g. many
  sessions on one llama.cpp, Ollama or vLLM server (``--profile llamacpp``);
  replies are then capped at ``MAX_OUTPUT_TOKENS`` and the buffer and tools are off.

What it tells:

- ``baseline_total``: a turn's duration with one session alone;
- ``total`` and ``llm_ttft``: the same turns with ``[bench] sessions`` sessions
  (10 by default) talking at once, each for ``iterations`` turns after its
  warm-up turns; ``added_latency`` is ``total`` minus the baseline p50;
  ``provider_ttft`` and ``va_overhead``: the provider's own time to first text,
  and what va adds on top of it;
- figures: throughput (turns per second), memory per session (retained after
  its turns, measured with tracemalloc in a separate pass so that tracing does
  not slow the timed one; fake LLM only), and the session metrics va reports.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import tracemalloc
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import TYPE_CHECKING

from voice_agent_cli.bench import BenchOptions, ScenarioRun
from voice_agent_cli.bench._turns import PROMPTS, MeasuredTurn, measured_turn, plain_chat_settings
from voice_agent_cli.compose.agent import agent_options, build_provider
from voice_agent_cli.config import load_settings
from voice_agent_cli.core.agent import Agent
from voice_agent_cli.observe import ids, metrics
from voice_agent_cli.observe.turns import instrument
from voice_agent_cli.testing import FakeLLM

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.llm.base import LLM


MAX_OUTPUT_TOKENS = 64


async def run(options: BenchOptions) -> ScenarioRun:
    """Measure one session alone, then ``sessions`` sessions at once."""
    settings = load_settings(options.profile)
    bench = settings.profile.bench
    if bench.concurrency_llm == "profile":
        settings = plain_chat_settings(
            options.profile, {"llm.max_output_tokens": MAX_OUTPUT_TOKENS}
        )
    agent_settings = agent_options(settings)
    registry = metrics.current()
    result = ScenarioRun()

    async with _shared_llm(settings) as llm:
        llm.report_to(registry)

        def new_session() -> Agent:
            agent = Agent(llm, agent_settings, metrics=registry)
            instrument(agent, registry)
            return agent

        baseline = new_session()
        for index in range(options.warmup + options.iterations):
            turn = await measured_turn(
                baseline, PROMPTS[index % len(PROMPTS)], baseline.conversation
            )
            if index >= options.warmup:
                result.sample("baseline_total", turn.completed.timings["total"])
        baseline_p50 = statistics.median(result.stages["baseline_total"])

        memory_kb = None
        if bench.concurrency_llm == "fake":
            memory_kb = await _memory_per_session(new_session, bench.sessions, options.iterations)

        agents = [new_session() for _ in range(bench.sessions)]
        barrier = asyncio.Barrier(bench.sessions + 1)
        measured: list[MeasuredTurn] = []

        async def session(agent: Agent) -> None:
            with ids.session_scope() as session_id:
                registry.session_started(session_id, "bench")
                try:
                    for index in range(options.warmup):
                        await agent.reply(PROMPTS[index % len(PROMPTS)])
                except BaseException:
                    await barrier.abort()  # never leave the others waiting for this one
                    raise
                await barrier.wait()
                for index in range(options.iterations):
                    prompt = PROMPTS[index % len(PROMPTS)]
                    measured.append(await measured_turn(agent, prompt, agent.conversation))
                registry.session_ended(session_id)

        tasks = [
            asyncio.create_task(session(agent), name=f"bench-session-{number}")
            for number, agent in enumerate(agents)
        ]
        await barrier.wait()  # every session has warmed up: the clock starts now
        started = time.perf_counter()
        await asyncio.gather(*tasks)
        wall_s = time.perf_counter() - started
        result.figures["llm"] = llm.name

    totals = [turn.completed.timings["total"] for turn in measured]
    for turn in measured:
        result.sample("total", turn.completed.timings["total"])
        result.sample("llm_ttft", turn.completed.timings.get("llm_ttft", 0.0))
        result.sample("added_latency", max(0.0, turn.completed.timings["total"] - baseline_p50))
        turn.sample_overhead(result)
    snapshot = registry.as_json()
    result.figures.update(
        {
            "sessions": bench.sessions,
            "turns_per_session": options.iterations,
            "fake_llm_latency_ms": bench.fake_llm_latency_ms
            if bench.concurrency_llm == "fake"
            else None,
            "throughput_turns_per_s": round(len(measured) / wall_s, 2) if wall_s else None,
            "added_latency_p50_ms": round(max(0.0, statistics.median(totals) - baseline_p50), 3),
            "memory_per_session_kb": memory_kb,
            "messages_per_session_p50": snapshot["sessions"]
            .get("messages_per_session", {})
            .get("p50"),
        }
    )
    return result


@asynccontextmanager
async def _shared_llm(settings: Settings) -> AsyncIterator[LLM]:
    """The one LLM every session shares: the fake, or the profile's own (started, closed)."""
    bench = settings.profile.bench
    if bench.concurrency_llm == "fake":
        yield FakeLLM(latency_s=bench.fake_llm_latency_ms / 1000)
        return

    llm = build_provider(settings, settings.llm_provider)
    try:
        await llm.start()
        yield llm
    finally:
        await llm.aclose()


async def _memory_per_session(new_session: Callable[[], Agent], sessions: int, turns: int) -> float:
    """Memory one session retains after ``turns`` turns, in KiB (tracemalloc, own pass)."""
    agents: list[Agent] = []
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        agents.extend(new_session() for _ in range(sessions))

        async def talk(agent: Agent) -> None:
            for index in range(turns):
                await agent.reply(PROMPTS[index % len(PROMPTS)])

        await asyncio.gather(*(talk(agent) for agent in agents))
        gc.collect()
        after = tracemalloc.get_traced_memory()[0]
    finally:
        tracemalloc.stop()
        agents.clear()
    return round((after - before) / sessions / 1024, 1)

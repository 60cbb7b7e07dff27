"""Bench scenario ``concurrency``: N simultaneous text sessions on one event loop.

Every session is its own agent (its own conversation, history and turn lock)
sharing one :class:`~voice_agent_cli.testing.FakeLLM` whose first token comes
after a fixed latency (``[bench] fake_llm_latency_ms``, 50 ms by default), as
``va join`` serves several participants from one process. What it tells:

- ``baseline_total``: a turn's duration with one session alone;
- ``total`` and ``llm_ttft``: the same turns with ``[bench] sessions`` sessions
  (10 by default) talking at once, each for ``iterations`` turns after its
  warm-up turns; ``added_latency`` is ``total`` minus the baseline p50;
- figures: throughput (turns per second), memory per session (retained after
  its turns, measured with tracemalloc in a separate pass so that tracing does
  not slow the timed one), and the session metrics va itself reports.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
import tracemalloc
from collections.abc import Callable
from typing import TYPE_CHECKING

from voice_agent_cli.bench import BenchOptions, ScenarioRun
from voice_agent_cli.bench._turns import PROMPTS

if TYPE_CHECKING:
    from voice_agent_cli.core.agent import Agent


async def run(options: BenchOptions) -> ScenarioRun:
    """Measure one session alone, then ``sessions`` sessions at once."""
    from voice_agent_cli import metrics
    from voice_agent_cli.config import load_settings
    from voice_agent_cli.core.agent import Agent
    from voice_agent_cli.core.build import agent_options
    from voice_agent_cli.testing import FakeLLM

    settings = load_settings(options.profile)
    bench = settings.profile.bench
    latency_ms = bench.fake_llm_latency_ms
    llm = FakeLLM(latency_s=latency_ms / 1000)
    agent_settings = agent_options(settings)
    registry = metrics.current()

    def new_session() -> Agent:
        agent = Agent(llm, agent_settings)
        metrics.instrument(agent, registry)
        return agent

    result = ScenarioRun()
    baseline = new_session()
    for index in range(options.warmup + options.iterations):
        completed = await baseline.reply(PROMPTS[index % len(PROMPTS)])
        if index >= options.warmup:
            result.sample("baseline_total", completed.timings["total"])
    baseline_p50 = statistics.median(result.stages["baseline_total"])

    memory_kb = await _memory_per_session(new_session, bench.sessions, options.iterations)

    agents = [new_session() for _ in range(bench.sessions)]
    barrier = asyncio.Barrier(bench.sessions + 1)
    measured: list[tuple[float, float]] = []  # (total, ttft) of every measured turn

    async def session(agent: Agent) -> None:
        from voice_agent_cli import log

        with log.session_scope() as session_id:
            registry.session_started(session_id, "bench")
            try:
                for index in range(options.warmup):
                    await agent.reply(PROMPTS[index % len(PROMPTS)])
            except BaseException:
                await barrier.abort()  # never leave the others waiting for this one
                raise
            await barrier.wait()
            for index in range(options.iterations):
                completed = await agent.reply(PROMPTS[index % len(PROMPTS)])
                timings = completed.timings
                measured.append((timings["total"], timings.get("llm_ttft", 0.0)))
            registry.session_ended(session_id)

    tasks = [
        asyncio.create_task(session(agent), name=f"bench-session-{number}")
        for number, agent in enumerate(agents)
    ]
    await barrier.wait()  # every session has warmed up: the clock starts now
    started = time.perf_counter()
    await asyncio.gather(*tasks)
    wall_s = time.perf_counter() - started

    for total, ttft in measured:
        result.sample("total", total)
        result.sample("llm_ttft", ttft)
        result.sample("added_latency", max(0.0, total - baseline_p50))
    snapshot = registry.as_json()
    result.figures.update(
        {
            "sessions": bench.sessions,
            "turns_per_session": options.iterations,
            "fake_llm_latency_ms": latency_ms,
            "throughput_turns_per_s": round(len(measured) / wall_s, 2) if wall_s else None,
            "added_latency_p50_ms": round(
                max(0.0, statistics.median(total for total, _ in measured) - baseline_p50), 3
            ),
            "memory_per_session_kb": memory_kb,
            "messages_per_session_p50": snapshot["sessions"]
            .get("messages_per_session", {})
            .get("p50"),
        }
    )
    return result


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

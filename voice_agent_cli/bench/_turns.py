"""What the agent-turn scenarios share: settings without the buffer, prompts, sampling.

Besides the agent's own stages, every sampled turn reports what va adds on top
of the provider (:meth:`MeasuredTurn.sample_overhead`): ``provider_ttft``, the
provider's own time to first text, measured at the provider boundary, and
``va_overhead``: the time from asking the agent to its first text, minus that.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voice_agent_cli.bench import BenchOptions, ScenarioRun
from voice_agent_cli.config import load_settings
from voice_agent_cli.contracts.events import Notice, TextDelta, TurnCompleted
from voice_agent_cli.errors import DependencyUnavailable
from voice_agent_cli.llm import stats
from voice_agent_cli.llm.stats import va_overhead_ms

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.core.agent import Agent
    from voice_agent_cli.core.conversation import Conversation
    from voice_agent_cli.llm.stats import ProviderCall

#: Short, varied questions: each turn asks one, in a fresh conversation.
PROMPTS: tuple[str, ...] = (
    "What is the capital of Italy?",
    "Name a fruit that is yellow.",
    "How many days are in a week?",
    "What colour is the sky on a clear day?",
    "Give me one word that rhymes with cat.",
    "What is two plus three?",
    "Which animal says moo?",
    "What do bees make?",
)


def plain_chat_settings(profile: str | None, overrides: dict[str, Any]) -> Settings:
    """The profile's settings with the buffer and tool servers off.

    Every turn then reaches the LLM with the same request shape; the ``buffer``
    and ``tools`` scenarios measure those layers.
    """
    base = {"buffer.enabled": False, "cache.enabled": False, **overrides}
    servers = load_settings(profile, base).profile.mcp.servers
    return load_settings(
        profile, {**base, **{f"mcp.servers.{name}.enabled": False for name in servers}}
    )


async def sample_turns(
    agent: Agent,
    options: BenchOptions,
    result: ScenarioRun,
    *,
    stages: Sequence[str] = ("llm_ttft", "total"),
    prompts: Sequence[str] = PROMPTS,
) -> None:
    """Run warm-up then measured turns, each in a fresh conversation; sample ``stages``.

    ``provider_ttft`` and ``va_overhead`` are sampled too (see :meth:`MeasuredTurn.sample`).
    """
    for index in range(options.warmup + options.iterations):
        text = prompts[index % len(prompts)]
        turn = await measured_turn(agent, text, agent.new_conversation())
        if index < options.warmup:
            continue
        for stage in stages:
            if stage in turn.completed.timings:
                result.sample(stage, turn.completed.timings[stage])
        turn.sample_overhead(result)


@dataclass
class MeasuredTurn:
    """One turn as its caller saw it: the completion, when its first text came, and the
    provider calls that answered it."""

    completed: TurnCompleted
    #: From asking the agent to its first text, as the caller observed it (ms).
    first_text_ms: float | None
    calls: list[ProviderCall]

    def sample_overhead(self, result: ScenarioRun) -> None:
        """Sample the provider's own TTFT and the time va added on top of it.

        Only a turn answered by one provider call is sampled (no tool steps, no
        failover): there, everything but the provider's own time is va's.
        """
        if self.first_text_ms is None:
            return
        overhead = va_overhead_ms(self.first_text_ms, self.calls)
        if overhead is None:
            return
        provider_ttft = self.calls[0].ttft_ms
        assert provider_ttft is not None
        result.sample("provider_ttft", provider_ttft)
        result.sample("va_overhead", overhead)


async def measured_turn(agent: Agent, text: str, conversation: Conversation) -> MeasuredTurn:
    """One turn, which the LLM itself must have answered, timed from the caller's side.

    A degraded reply (the LLM unreachable, the agent answering without it)
    would otherwise be measured as if it were the LLM's.
    """
    notices: list[str] = []
    completed: TurnCompleted | None = None
    first_text: float | None = None
    with stats.collect() as calls:
        asked = time.perf_counter()
        async for event in agent.run_turn(text, conversation=conversation):
            if isinstance(event, TextDelta) and first_text is None:
                first_text = time.perf_counter()
            elif isinstance(event, Notice):
                notices.append(event.message)
            elif isinstance(event, TurnCompleted):
                completed = event
    assert completed is not None
    if completed.source != "llm":
        reason = notices[-1] if notices else f"answered from {completed.source!r}"
        raise DependencyUnavailable(f"{agent.llm.name} did not answer: {reason}")
    first_text_ms = (first_text - asked) * 1000 if first_text is not None else None
    return MeasuredTurn(completed, first_text_ms, calls)

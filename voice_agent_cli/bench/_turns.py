"""What the agent-turn scenarios share: settings without the buffer, prompts, sampling."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from voice_agent_cli.bench import BenchOptions, ScenarioRun

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.core.agent import Agent
    from voice_agent_cli.core.events import TurnCompleted

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
    from voice_agent_cli.config import load_settings

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
    """Run warm-up then measured turns, each in a fresh conversation; sample ``stages``."""
    for index in range(options.warmup + options.iterations):
        text = prompts[index % len(prompts)]
        completed = await _llm_turn(agent, text)
        if index < options.warmup:
            continue
        for stage in stages:
            if stage in completed.timings:
                result.sample(stage, completed.timings[stage])


async def _llm_turn(agent: Agent, text: str) -> TurnCompleted:
    """One turn in a fresh conversation, which the LLM itself must have answered.

    A degraded reply (the LLM unreachable, the agent answering without it)
    would otherwise be measured as if it were the LLM's.
    """
    from voice_agent_cli.core.events import Notice, TurnCompleted
    from voice_agent_cli.errors import DependencyUnavailable

    notices: list[str] = []
    completed: TurnCompleted | None = None
    async for event in agent.run_turn(text, conversation=agent.new_conversation()):
        if isinstance(event, Notice):
            notices.append(event.message)
        elif isinstance(event, TurnCompleted):
            completed = event
    assert completed is not None
    if completed.source != "llm":
        reason = notices[-1] if notices else f"answered from {completed.source!r}"
        raise DependencyUnavailable(f"{agent.llm.name} did not answer: {reason}")
    return completed

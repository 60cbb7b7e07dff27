"""How the agent behaves, independent of which LLM answers (the profile's ``[llm]``,
``[conversation]``, ``[mcp]`` and ``[resilience]`` keys, gathered by
:func:`voice_agent_cli.compose.agent.agent_options`)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from voice_agent_cli.llm.base import LLM


@dataclass
class AgentOptions:
    """How the agent behaves, independent of which LLM answers."""

    system_prompt: str
    temperature: float = 0.2
    max_output_tokens: int = 512
    max_tool_steps: int = 4
    max_messages: int = 20
    max_history_tokens: int = 32000
    #: Say ``filler_text`` when a step's tool calls run longer than this (None = never).
    filler_after_s: float | None = None
    filler_text: str = "One moment, let me check."
    degraded_reply: str = (
        "Sorry, I can't reach my language model right now. Please try again in a little while."
    )
    #: The longest a turn waits for the LLM in all (retries and failover included).
    turn_timeout_s: float | None = None


def history_budget(options: AgentOptions, llm: LLM) -> int:
    """The tokens of history a conversation may keep: the profile's bound, within the
    model's context window (leaving room for the system prompt and the reply)."""
    budget = options.max_history_tokens
    if llm.context_window:
        reserved = options.max_output_tokens + llm.count_tokens(options.system_prompt)
        budget = max(256, min(budget, llm.context_window - reserved - 64))
    return budget

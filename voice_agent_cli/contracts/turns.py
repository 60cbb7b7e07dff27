"""What the agent and its response buffer say to each other about a turn.

::

    Agent ── TurnContext ──► ReplyBuffer.lookup ──► BufferHit | None
      │                                              (a hit is the reply)
      └──── TurnContext + reply ──► ReplyBuffer.store

The buffer (:mod:`voice_agent_cli.buffer`) implements :class:`ReplyBuffer`;
the agent (:mod:`voice_agent_cli.core.agent`) only knows this protocol.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from voice_agent_cli.contracts.events import ReplySource
from voice_agent_cli.contracts.messages import ChatMessage, ToolCall


@dataclass(frozen=True)
class TurnContext:
    """What a reply may depend on, handed to the response buffer to key its cache."""

    text: str
    llm: str
    system_prompt: str
    history: tuple[ChatMessage, ...]
    speaker: str | None = None
    tool_calls: tuple[ToolCall, ...] = ()


@dataclass(frozen=True)
class BufferHit:
    """A reply the buffer had ready, which layer had it, and the LLM that once wrote it."""

    reply: str
    layer: ReplySource
    llm: str | None = None


class ReplyBuffer(Protocol):
    """Answers before the LLM is asked, and remembers what the LLM said."""

    async def lookup(self, context: TurnContext) -> BufferHit | None:
        """A ready reply for this turn, or ``None`` on a miss."""
        ...

    async def store(self, context: TurnContext, reply: str) -> None:
        """Remember an LLM reply (the buffer decides whether it may be reused)."""
        ...

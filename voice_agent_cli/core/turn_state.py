"""What a turn has produced so far, shared by the parts of the agent that answer it.

The agent (:mod:`.agent`) opens one :class:`TurnState` per turn; the LLM and
tool loop (:mod:`.tool_loop`) and the experts' path (:mod:`.consultation`)
append to it as they go, so that a turn cut short (barge-in, Ctrl-C, a failure)
can still be recorded with what was said.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from voice_agent_cli.contracts.events import ReplySource
from voice_agent_cli.contracts.messages import ChatMessage, ToolCall
from voice_agent_cli.core.conversation import Conversation
from voice_agent_cli.errors import CircuitOpenError, LLMError
from voice_agent_cli.resilience import Deadline


@dataclass
class TurnState:
    """What a turn has produced so far (so an interrupted turn can be recorded)."""

    user: str
    reply_parts: list[str] = field(default_factory=list)
    tool_calls: list[ToolCall] = field(default_factory=list)
    first_delta_at: float | None = None
    source: ReplySource = "llm"
    details: dict[str, Any] = field(default_factory=dict)
    #: When the LLM must have answered (``AgentOptions.turn_timeout_s`` from the turn's start).
    deadline: Deadline | None = None
    #: The provider that really produced the reply (a fallback, when one answered).
    answered_by: str | None = None

    @property
    def reply(self) -> str:
        return "".join(self.reply_parts)

    @property
    def said_something(self) -> bool:
        """Whether the user already heard or saw part of this turn (words or tool calls)."""
        return bool(self.reply_parts or self.tool_calls)

    def record_failure(self, conversation: Conversation, user_message: ChatMessage) -> None:
        """Record a turn that ended without a reply in the history.

        Interrupted mid-reply (barge-in, Ctrl-C): what was said is kept, marked
        interrupted. Nothing said yet: the user's message is forgotten too.
        """
        if self.said_something:
            conversation.add_assistant(self.reply, interrupted=True)
        else:
            conversation.forget_from(user_message)


def is_outage(exc: Exception) -> bool:
    """An error that says the LLM is unreachable, not that the request was wrong."""
    return isinstance(exc, CircuitOpenError) or (isinstance(exc, LLMError) and exc.retryable)

"""Bounded conversation history.

The LLM sees at most ``max_messages`` messages and at most ``max_tokens``
tokens of history; older messages are dropped first. Trimming keeps the
history well-formed: it never starts with an assistant reply or with a tool
result whose call was dropped, because providers reject (or misread) both.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Sequence

from voice_agent_cli.contracts.messages import ChatMessage, ToolCall, ToolResult

TokenCounter = Callable[[str], int]


def approximate_tokens(text: str) -> int:
    """About four characters per token: good enough to budget English text."""
    return max(1, len(text) // 4)


class Conversation:
    """The history of one conversation (one chat session, one voice session, one room)."""

    def __init__(
        self,
        *,
        max_messages: int = 20,
        max_tokens: int = 32000,
        count_tokens: TokenCounter = approximate_tokens,
    ) -> None:
        self.max_messages = max_messages
        self.max_tokens = max_tokens
        self.count_tokens = count_tokens
        self._messages: list[ChatMessage] = []
        #: Held for the length of a turn: one turn at a time per conversation.
        self.turn_lock = asyncio.Lock()

    def __len__(self) -> int:
        return len(self._messages)

    @property
    def messages(self) -> tuple[ChatMessage, ...]:
        """The kept history, oldest first."""
        return tuple(self._messages)

    def add(self, message: ChatMessage) -> None:
        """Append a message and trim the history to its bounds."""
        self._messages.append(message)
        self._trim()

    def add_user(self, text: str, *, speaker: str | None = None) -> ChatMessage:
        """Append what the user said (``speaker`` names them in a multi-party room)."""
        message = ChatMessage(role="user", content=text, speaker=speaker)
        self.add(message)
        return message

    def add_assistant(
        self, text: str, *, tool_calls: Sequence[ToolCall] = (), interrupted: bool = False
    ) -> None:
        """Append the agent's reply (or its request to call tools)."""
        self.add(
            ChatMessage(
                role="assistant",
                content=text,
                tool_calls=tuple(tool_calls),
                interrupted=interrupted,
            )
        )

    def add_tool_result(self, call: ToolCall, result: ToolResult) -> None:
        """Append the result of a tool call the assistant asked for."""
        self.add(ChatMessage.for_tool_result(call, result))

    def last_user_text(self) -> str | None:
        """What the user said last, if anything."""
        for message in reversed(self._messages):
            if message.role == "user":
                return message.content
        return None

    def forget_from(self, message: ChatMessage) -> None:
        """Forget ``message`` and everything after it (a turn that failed)."""
        for index in range(len(self._messages) - 1, -1, -1):
            if self._messages[index] is message:
                del self._messages[index:]
                return

    def clear(self) -> None:
        """Forget everything (``/reset``)."""
        self._messages.clear()

    def window(self, token_budget: int | None = None) -> list[ChatMessage]:
        """The history trimmed to ``token_budget`` (default: ``max_tokens``), oldest first.

        The newest message is always kept, even if it alone is over budget: the
        provider then reports the overflow rather than answering a question
        nobody asked.
        """
        budget = self.max_tokens if token_budget is None else token_budget
        kept: list[ChatMessage] = []
        used = 0
        for message in reversed(self._messages):
            cost = self._cost(message)
            if kept and used + cost > budget:
                break
            kept.append(message)
            used += cost
        kept.reverse()
        return _drop_dangling_head(kept)

    def _trim(self) -> None:
        if len(self._messages) > self.max_messages:
            del self._messages[: len(self._messages) - self.max_messages]
        self._messages = _drop_dangling_head(self._messages)
        self._messages = self.window()

    def _cost(self, message: ChatMessage) -> int:
        text = message.content + "".join(
            call.name + str(call.arguments) for call in message.tool_calls
        )
        return self.count_tokens(text) + 4  # role and framing tokens


def _drop_dangling_head(messages: list[ChatMessage]) -> list[ChatMessage]:
    """Drop leading messages until the history starts with a user message."""
    start = 0
    while start < len(messages) - 1 and messages[start].role != "user":
        start += 1
    return messages[start:]

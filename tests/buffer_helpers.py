"""Small helpers shared by the response buffer's tests."""

from __future__ import annotations

from collections.abc import Sequence

from voice_agent_cli.contracts.messages import ChatMessage, ToolCall
from voice_agent_cli.contracts.turns import TurnContext

SYSTEM = "You are a test."
LLM_NAME = "fake:scripted"


class FakeClock:
    """A clock the test moves by hand (wall time for TTLs, or monotonic time)."""

    def __init__(self, now: float = 1_700_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def turn(
    text: str,
    *,
    history: Sequence[ChatMessage] = (),
    tool_calls: Sequence[ToolCall] = (),
    llm: str = LLM_NAME,
    system: str = SYSTEM,
    speaker: str | None = None,
) -> TurnContext:
    """The context the agent would hand the buffer for ``text``."""
    return TurnContext(
        text=text,
        llm=llm,
        system_prompt=system,
        history=tuple(history),
        speaker=speaker,
        tool_calls=tuple(tool_calls),
    )


def exchange(question: str, answer: str) -> list[ChatMessage]:
    """A user message and the assistant's reply."""
    return [
        ChatMessage(role="user", content=question),
        ChatMessage(role="assistant", content=answer),
    ]

"""The data an agent turn is made of: messages, tool specs, tool calls and results.

These are plain dataclasses shared by the agent core, the LLM providers and the
tool layer, so that no layer depends on another's SDK types.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

Role = Literal["user", "assistant", "tool"]


@dataclass(frozen=True)
class ToolSpec:
    """A tool the LLM may call: a name, what it does, and a JSON schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolCall:
    """The LLM asks for ``name`` to be called with ``arguments``.

    ``signature`` is opaque provider state that must travel back with the call
    in the history (Gemini's thought signatures); other layers ignore it.
    """

    id: str
    name: str
    arguments: dict[str, Any]
    signature: bytes | None = field(default=None, repr=False, compare=False)


@dataclass(frozen=True)
class ToolResult:
    """What a tool returned: text for the LLM, optional structured content, and an error flag."""

    text: str
    is_error: bool = False
    structured: dict[str, Any] | None = None

    def as_payload(self) -> dict[str, Any]:
        """The result as one JSON object, the shape function responses are sent in."""
        payload: dict[str, Any] = {"error": self.text} if self.is_error else {"result": self.text}
        if self.structured is not None:
            payload["structured"] = self.structured
        return payload


@dataclass(frozen=True)
class ChatMessage:
    """One message of the conversation history.

    ``user`` messages carry the speaker's identity when several people talk
    (a LiveKit room); ``assistant`` messages may carry tool calls and are
    marked ``interrupted`` when the user barged in; ``tool`` messages carry
    the result of the call named by ``tool_call_id``.
    """

    role: Role
    content: str = ""
    tool_calls: tuple[ToolCall, ...] = ()
    tool_call_id: str | None = None
    tool_name: str | None = None
    tool_result: ToolResult | None = None
    speaker: str | None = None
    interrupted: bool = False

    @classmethod
    def for_tool_result(cls, call: ToolCall, result: ToolResult) -> ChatMessage:
        """The history entry carrying ``result``, the answer to ``call``."""
        return cls(
            role="tool",
            content=result.text,
            tool_call_id=call.id,
            tool_name=call.name,
            tool_result=result,
        )

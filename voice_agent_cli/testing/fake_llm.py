"""A scripted LLM: deterministic replies, optional latency, and a record of its requests."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator, Callable, Sequence

from voice_agent_cli.contracts.messages import ToolCall
from voice_agent_cli.llm.base import LLM, LLMChunk, LLMRequest, TextChunk
from voice_agent_cli.resilience import RetryPolicy

#: One scripted answer: plain text (streamed word by word), or explicit chunks,
#: or an exception to raise.
ScriptedReply = str | Sequence[LLMChunk] | BaseException
Responder = Callable[[LLMRequest], ScriptedReply]


def echo(request: LLMRequest) -> str:
    """The default answer: repeat the latest user message."""
    last = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    return f"You said: {last}"


class FakeLLM(LLM):
    """An :class:`~voice_agent_cli.llm.base.LLM` that answers from a script.

    ``replies`` are used in order, then ``responder`` (default: echo) answers
    every later request. ``latency_s`` is waited before the first chunk and
    ``chunk_delay_s`` between chunks, to model a real provider's timing.
    """

    provider = "fake"

    def __init__(
        self,
        replies: Sequence[ScriptedReply] = (),
        *,
        responder: Responder = echo,
        latency_s: float = 0.0,
        chunk_delay_s: float = 0.0,
        model: str = "scripted",
        timeout_s: float = 30.0,
        retry: RetryPolicy | None = None,
    ) -> None:
        super().__init__(model=model, timeout_s=timeout_s, retry=retry or RetryPolicy(0))
        self._replies = list(replies)
        self._responder = responder
        self.latency_s = latency_s
        self.chunk_delay_s = chunk_delay_s
        self.requests: list[LLMRequest] = []
        self.closed = False

    async def aclose(self) -> None:
        self.closed = True

    async def _stream_impl(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        self.requests.append(request)
        reply = self._replies.pop(0) if self._replies else self._responder(request)
        if self.latency_s:
            await asyncio.sleep(self.latency_s)
        if isinstance(reply, BaseException):
            raise reply
        chunks: Sequence[LLMChunk] = (
            [TextChunk(word) for word in _words(reply)] if isinstance(reply, str) else reply
        )
        for index, chunk in enumerate(chunks):
            if index and self.chunk_delay_s:
                await asyncio.sleep(self.chunk_delay_s)
            yield chunk


def tool_call(name: str, call_id: str = "call_1", **arguments: object) -> ToolCall:
    """A scripted tool call, for ``FakeLLM([[tool_call("get_time")], "It is noon."])``."""
    return ToolCall(id=call_id, name=name, arguments=dict(arguments))


def _words(text: str) -> list[str]:
    """Split keeping the spaces, so the chunks join back into ``text`` exactly."""
    parts = text.split(" ")
    return [part + " " for part in parts[:-1]] + [parts[-1]] if parts else []

"""The LLM seam: one interface, with retries and timeouts owned by the base class.

A provider implements :meth:`LLM._stream_impl`, which talks to its model and
translates the model's own exceptions into :mod:`voice_agent_cli.errors`. The
base class wraps it with what every provider needs: a timeout on the first
chunk and between chunks (so a hanging server never hangs va), retries with
backoff for retryable errors, only while nothing has been yielded yet (a reply
half-streamed to the user is never silently restarted), and an optional
circuit breaker that fails fast while the provider is down.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from voice_agent_cli.core.messages import ChatMessage, ToolCall, ToolSpec
from voice_agent_cli.errors import LLMError, LLMTimeout
from voice_agent_cli.resilience import CircuitBreaker, RetryPolicy


@dataclass(frozen=True)
class TextChunk:
    """A piece of generated text."""

    text: str


#: What a provider streams: text, or a request to call a tool.
LLMChunk = TextChunk | ToolCall


@dataclass(frozen=True)
class LLMRequest:
    """Everything a provider needs to answer: instructions, history, tools, sampling."""

    system: str
    messages: Sequence[ChatMessage]
    tools: Sequence[ToolSpec] = ()
    temperature: float = 0.7
    max_output_tokens: int = 512
    #: Tools the model may call now; empty = answer in text only.
    allow_tools: bool = True
    extra: dict[str, object] = field(default_factory=dict)


class LLM(ABC):
    """Base of every LLM provider."""

    #: Short provider name used in output and metrics: "gemini", "local", "fake".
    provider: str = "llm"

    def __init__(
        self, *, model: str, timeout_s: float | None = 30.0, retry: RetryPolicy | None = None
    ):
        self.model = model
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        #: Opened by repeated availability failures (after retries); see resilience.py.
        self.breaker: CircuitBreaker | None = None

    @property
    def name(self) -> str:
        """``provider:model``, as shown to users."""
        return f"{self.provider}:{self.model}"

    def answered_by(self) -> LLM:
        """The provider that produced this task's latest reply: itself, unless composite.

        :class:`~voice_agent_cli.llm.fallback.FallbackLLM` answers with whichever of
        its providers is up; replies are labelled, logged and cached under that one.
        """
        return self

    async def start(self) -> None:  # noqa: B027 - optional hook, most providers need nothing
        """Load or connect ahead of the first request (a no-op unless overridden)."""

    async def aclose(self) -> None:  # noqa: B027 - optional hook
        """Release what the provider holds (a no-op unless overridden)."""

    def count_tokens(self, text: str) -> int:
        """Estimate the tokens of ``text`` (about four characters per token)."""
        return max(1, len(text) // 4)

    async def stream(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        """Stream the answer to ``request``: text chunks and tool calls.

        Raises :class:`~voice_agent_cli.errors.LLMError` subclasses, or
        :class:`~voice_agent_cli.errors.CircuitOpenError` while the breaker is open.
        """
        breaker = self.breaker
        if breaker is not None:
            breaker.check()
        try:
            async with aclosing(self._with_retries(request)) as chunks:
                async for chunk in chunks:
                    yield chunk
        except LLMError as exc:
            # Only availability failures (5xx, 429, timeouts, unreachable) say the
            # provider is unhealthy; a bad key or a bad request does not.
            if breaker is not None and exc.retryable:
                breaker.record_failure(type(exc).__name__)
            elif breaker is not None:
                breaker.release()
            raise
        except BaseException:
            if breaker is not None:
                breaker.release()  # cancelled or closed early: no verdict
            raise
        if breaker is not None:
            breaker.record_success()

    async def _with_retries(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        attempt = 0
        while True:
            produced = False
            try:
                async with aclosing(self._guarded(request)) as chunks:
                    async for chunk in chunks:
                        produced = True
                        yield chunk
                return
            except LLMError as exc:
                if produced or not exc.retryable or attempt >= self.retry.max_retries:
                    raise
            await self.retry.wait(attempt)
            attempt += 1

    async def complete(self, request: LLMRequest) -> tuple[str, list[ToolCall]]:
        """The whole answer at once: its text and the tool calls it asked for."""
        text: list[str] = []
        calls: list[ToolCall] = []
        async for chunk in self.stream(request):
            if isinstance(chunk, TextChunk):
                text.append(chunk.text)
            else:
                calls.append(chunk)
        return "".join(text), calls

    async def _guarded(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        """One attempt, with the idle timeout applied to every chunk."""
        chunks = self._stream_impl(request)
        try:
            while True:
                try:
                    async with asyncio.timeout(self.timeout_s):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    return
                except TimeoutError:
                    raise LLMTimeout(
                        f"{self.provider} did not answer within {self.timeout_s or 0:g} s",
                        provider=self.provider,
                    ) from None
                except (LLMError, asyncio.CancelledError):
                    raise
                except Exception as exc:  # a provider bug must not become a traceback
                    raise LLMError(
                        f"{self.provider} failed unexpectedly ({type(exc).__name__})",
                        provider=self.provider,
                    ) from exc
                yield chunk
        finally:
            await chunks.aclose()

    @abstractmethod
    def _stream_impl(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        """Provider-specific streaming; must raise only ``LLMError`` for known failures."""

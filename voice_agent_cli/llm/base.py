"""The LLM seam: one interface, with retries and timeouts owned by the base class.

A provider implements :meth:`LLM._stream_impl`, which talks to its model and
translates the model's own exceptions into :mod:`voice_agent_cli.errors`. The
base class wraps it with what every provider needs: a timeout on the first
chunk and between chunks (so a hanging server never hangs va), retries with
backoff for retryable errors, only while nothing has been yielded yet (a reply
half-streamed to the user is never silently restarted), and an optional
circuit breaker that fails fast while the provider is down.

A request may carry a :class:`~voice_agent_cli.resilience.Deadline` (the
turn's, ``llm.turn_timeout_s``): no wait (a chunk, a backoff, a server's
Retry-After) goes past it, and the error that reports it states it. A retry
that could not start before it is not tried; a failure after retries says how
many attempts and how long they took.

Every successful attempt is measured here, at the provider boundary: its own
time to first text, its duration, and the :class:`~voice_agent_cli.llm.stats.TokenUsage`
a provider may yield (which never reaches the consumer); see
:mod:`voice_agent_cli.llm.stats`.
"""

from __future__ import annotations

import asyncio
import time
from abc import ABC, abstractmethod
from collections.abc import AsyncGenerator, Sequence
from contextlib import aclosing
from dataclasses import dataclass, field

from voice_agent_cli.contracts.messages import ChatMessage, ToolCall, ToolSpec
from voice_agent_cli.errors import LLMError, LLMTimeout
from voice_agent_cli.llm.stats import ProviderCall, TokenUsage, report
from voice_agent_cli.observe.metrics import Metrics
from voice_agent_cli.resilience import CircuitBreaker, Deadline, RetryPolicy

#: A retry is only worth starting with at least this much of the deadline left.
MIN_ATTEMPT_S = 0.5


@dataclass(frozen=True)
class TextChunk:
    """A piece of generated text."""

    text: str


#: What a provider streams: text, or a request to call a tool.
LLMChunk = TextChunk | ToolCall

#: What ``_stream_impl`` may yield besides: the tokens used, kept off the stream.
ProviderChunk = LLMChunk | TokenUsage


@dataclass(frozen=True)
class LLMRequest:
    """Everything a provider needs to answer: instructions, history, tools, sampling."""

    system: str
    messages: Sequence[ChatMessage]
    tools: Sequence[ToolSpec] = ()
    temperature: float = 0.2
    max_output_tokens: int = 512
    #: Tools the model may call now; empty = answer in text only.
    allow_tools: bool = True
    #: When the answer must have come (the turn's deadline), if any.
    deadline: Deadline | None = None
    extra: dict[str, object] = field(default_factory=dict)


class LLM(ABC):
    """Base of every LLM provider."""

    #: Short provider name used in output and metrics: "gemini", "local", "fake".
    provider: str = "llm"
    #: Whether attempts are measured as provider calls (a wrapper of other
    #: providers, such as failover, leaves that to the providers it wraps).
    measures_calls: bool = True
    #: The model's context window in tokens, when known: the agent keeps the history
    #: (plus system prompt and reply) within it. ``None``: only the profile's bound.
    context_window: int | None = None

    def __init__(
        self, *, model: str, timeout_s: float | None = 30.0, retry: RetryPolicy | None = None
    ):
        self.model = model
        self.timeout_s = timeout_s
        self.retry = retry or RetryPolicy()
        #: Opened by repeated availability failures (after retries); see resilience.py.
        self.breaker: CircuitBreaker | None = None
        #: Where the provider calls are counted (set by :meth:`report_to`; None: nowhere).
        self.metrics: Metrics | None = None

    def report_to(self, metrics: Metrics) -> None:
        """Count this provider's calls (``llm_calls``, ``llm_tokens``...) in ``metrics``."""
        self.metrics = metrics

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

    async def prepare(self) -> None:  # noqa: B027 - optional hook
        """Make the model files ready (a first run assembles them), without loading."""

    async def warm_up(self, system: str, tools: Sequence[ToolSpec]) -> None:  # noqa: B027
        """Get the first turn as fast as the next: the agent's fixed prompt, ahead of time.

        Called once after :meth:`start` with the system prompt and the tools every
        turn will carry. A no-op unless overridden (a local model evaluates them
        into its cache, so the first turn does not pay for it).
        """

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
        started = time.monotonic()
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
                    raise _after_attempts(exc, attempt + 1, started) from None
                delay = self.retry.delay_after(attempt, exc.retry_after_s)
                deadline = request.deadline
                if delay is None or (
                    deadline is not None and deadline.remaining() < delay + MIN_ATTEMPT_S
                ):
                    # Asked to wait longer than we may: fail now (a fallback may answer).
                    raise _after_attempts(exc, attempt + 1, started) from None
            await self.retry.sleep(delay)
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

    def _chunk_timeout(self, request: LLMRequest) -> tuple[float | None, str]:
        """How long to wait for the next chunk, and the bound in words if it runs out."""
        timeout = self.timeout_s
        bound = f"within {timeout or 0:g} s"
        deadline = request.deadline
        if deadline is not None and (timeout is None or deadline.remaining() < timeout):
            return deadline.remaining(), f"within {deadline.what}"
        return timeout, bound

    async def _guarded(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        """One attempt, with the idle timeout (and the deadline) applied to every chunk."""
        started = time.perf_counter()
        first_text: float | None = None
        usage: TokenUsage | None = None
        chunks = self._stream_impl(request)
        try:
            while True:
                timeout, bound = self._chunk_timeout(request)
                try:
                    async with asyncio.timeout(timeout):
                        chunk = await anext(chunks)
                except StopAsyncIteration:
                    break
                except TimeoutError:
                    raise LLMTimeout(
                        f"{self.provider} did not answer {bound}", provider=self.provider
                    ) from None
                except (LLMError, asyncio.CancelledError):
                    raise
                except Exception as exc:  # a provider bug must not become a traceback
                    raise LLMError(
                        f"{self.provider} failed unexpectedly ({type(exc).__name__})",
                        provider=self.provider,
                    ) from exc
                if isinstance(chunk, TokenUsage):
                    usage = chunk
                    continue
                if first_text is None and isinstance(chunk, TextChunk):
                    first_text = time.perf_counter()
                yield chunk
        finally:
            await chunks.aclose()
        if self.measures_calls:
            report(
                self.metrics,
                ProviderCall(
                    provider=self.provider,
                    model=self.model,
                    ttft_ms=(first_text - started) * 1000 if first_text is not None else None,
                    duration_ms=(time.perf_counter() - started) * 1000,
                    prompt_tokens=usage.prompt_tokens if usage else None,
                    completion_tokens=usage.completion_tokens if usage else None,
                ),
            )

    @abstractmethod
    def _stream_impl(self, request: LLMRequest) -> AsyncGenerator[ProviderChunk, None]:
        """Provider-specific streaming; must raise only ``LLMError`` for known failures.

        It may yield one :class:`~voice_agent_cli.llm.stats.TokenUsage` when the
        service reports the tokens it used.
        """


def _after_attempts(error: LLMError, attempts: int, started: float) -> LLMError:
    """``error``, saying how many attempts were made and how long they took in all."""
    if attempts > 1:
        error.message = (
            f"{error.message} (gave up after {attempts} attempts, "
            f"{time.monotonic() - started:.0f} s in all)"
        )
        error.args = (error.message,)
    return error

"""Failover between LLM providers, by composition: ``FallbackLLM([gemini, local])``.

Each provider keeps its own retries and breaker. When one fails with an
availability error (or its breaker is open) before it has produced anything,
the next one is asked. Errors that another provider would hit just the same
(a request that is too long, say) are raised at once; so is any failure once
text has reached the user.

All of it happens within the request's deadline (the turn's): each provider
gets an even share of the time left, and what one does not use passes on, so
the last one tried always has a chance to answer before the turn's bound.

Who answered is always true: :meth:`FallbackLLM.answered_by` names the
provider that produced the reply of the current task (a context variable, so
turns running side by side in a room each see their own), and the agent labels,
logs and caches the reply under that provider, never under the primary's name.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from contextlib import aclosing
from contextvars import ContextVar
from dataclasses import replace
from typing import TYPE_CHECKING

from voice_agent_cli.errors import CircuitOpenError, LLMError
from voice_agent_cli.llm.base import LLM, LLMChunk, LLMRequest
from voice_agent_cli.resilience import RetryPolicy

if TYPE_CHECKING:
    from voice_agent_cli.contracts.messages import ToolSpec
    from voice_agent_cli.observe.metrics import Metrics

FailoverListener = Callable[[LLM, LLM, Exception], None]

logger = logging.getLogger("va.llm")


class FallbackLLM(LLM):
    """The first provider that answers, in order of preference."""

    provider = "fallback"
    measures_calls = False  # each provider it wraps measures its own calls

    def __init__(self, providers: Sequence[LLM], *, on_failover: FailoverListener | None = None):
        if not providers:
            raise ValueError("FallbackLLM needs at least one provider")
        primary = providers[0]
        # Each provider times out and retries on its own; this wrapper adds neither.
        super().__init__(model=primary.model, timeout_s=None, retry=RetryPolicy(max_retries=0))
        self.providers = list(providers)
        self.on_failover = on_failover
        #: The provider that served the last request (of any task).
        self.active: LLM = primary
        #: The provider that served the last request of the current task.
        self._answering: ContextVar[LLM | None] = ContextVar(
            f"va-answering-{id(self)}", default=None
        )
        self.context_window = primary.context_window

    @property
    def name(self) -> str:
        """The primary's name: what was asked for (see :meth:`answered_by` for who answered)."""
        return self.providers[0].name

    def answered_by(self) -> LLM:
        """The provider whose reply this task streamed last (the primary before any)."""
        return self._answering.get() or self.providers[0]

    def count_tokens(self, text: str) -> int:
        return self.providers[0].count_tokens(text)

    def report_to(self, metrics: Metrics) -> None:
        """Each provider it wraps counts its own calls in ``metrics``."""
        super().report_to(metrics)
        for provider in self.providers:
            provider.report_to(metrics)

    async def start(self) -> None:
        """Start the primary; the fallbacks start when first needed."""
        await self.providers[0].start()

    async def prepare(self) -> None:
        """Prepare the primary's files."""
        await self.providers[0].prepare()

    async def warm_up(self, system: str, tools: Sequence[ToolSpec]) -> None:
        """Warm the primary (the one that answers unless it fails)."""
        await self.providers[0].warm_up(system, tools)

    async def aclose(self) -> None:
        for provider in self.providers:
            await provider.aclose()

    def _chunk_timeout(self, request: LLMRequest) -> tuple[float | None, str]:
        # No bound of its own: each provider enforces its timeout and its share.
        return None, ""

    async def _stream_impl(self, request: LLMRequest) -> AsyncGenerator[LLMChunk, None]:
        last_error: Exception | None = None
        for index, provider in enumerate(self.providers):
            produced = False
            attempt = request
            if request.deadline is not None:
                share = request.deadline.share(len(self.providers) - index)
                attempt = replace(request, deadline=share)
            try:
                async with aclosing(provider.stream(attempt)) as chunks:
                    async for chunk in chunks:
                        if not produced:
                            produced = True
                            self._serving(provider)
                        yield chunk
                self._serving(provider)
                return
            except (LLMError, CircuitOpenError) as exc:
                if produced or not _worth_another_provider(exc):
                    raise
                last_error = exc
                if index + 1 < len(self.providers):
                    following = self.providers[index + 1]
                    logger.info(
                        "%s failed (%s): asking %s",
                        provider.name,
                        type(exc).__name__,
                        following.name,
                        extra={"failed": provider.name, "fallback": following.name},
                    )
                    if self.on_failover:
                        self.on_failover(provider, following, exc)
        assert last_error is not None
        raise last_error

    def _serving(self, provider: LLM) -> None:
        self.active = provider
        self._answering.set(provider)


def _worth_another_provider(exc: Exception) -> bool:
    """Would a different provider plausibly succeed where this one failed?"""
    if isinstance(exc, CircuitOpenError):
        return True  # that provider is resting; another may answer
    # A bad key or a bad request is the user's to fix, not an outage to hide.
    return isinstance(exc, LLMError) and exc.retryable

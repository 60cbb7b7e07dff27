"""What each provider call cost: its own time to first text, its duration, its tokens.

The LLM base class measures every successful attempt at the provider boundary
(:meth:`voice_agent_cli.llm.base.LLM.stream`), where va's own work ends and
the provider's begins, and hands a :class:`ProviderCall` to :func:`report`::

    agent turn ─► LLM.stream ─► retries/breaker ─► attempt ─► provider._stream_impl
                                                     │ first text, end, TokenUsage
                                                     ▼
                                        report(ProviderCall)
                                          ├─► metrics: llm_provider_ttft (stage),
                                          │   llm_calls, llm_tokens{kind} (counters)
                                          └─► collect() lists of this context (va bench)

``va bench`` collects the calls of each turn and subtracts the provider's own
time to first text from the time to first text the agent's caller saw: what is
left (``va_overhead``) is the time va itself adds, whatever the provider.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass

from voice_agent_cli.observe import metrics


@dataclass(frozen=True)
class TokenUsage:
    """Tokens one request read and wrote, as the provider counted them.

    A provider yields it from ``_stream_impl`` when the service reports it
    (usually with the last chunk); the base class keeps it off the stream.
    """

    prompt_tokens: int
    completion_tokens: int


@dataclass(frozen=True)
class ProviderCall:
    """One successful provider attempt, timed from the moment it was asked.

    ``ttft_ms`` is ``None`` when the answer held no text (only tool calls);
    the token counts are ``None`` when the provider did not report them.
    """

    provider: str
    model: str
    ttft_ms: float | None
    duration_ms: float
    prompt_tokens: int | None = None
    completion_tokens: int | None = None


_logger = logging.getLogger("va.llm")

_COLLECTORS: ContextVar[tuple[list[ProviderCall], ...]] = ContextVar(
    "va_provider_calls", default=()
)


@contextmanager
def collect() -> Iterator[list[ProviderCall]]:
    """Gather the provider calls made in this context (and tasks started from it)."""
    calls: list[ProviderCall] = []
    token = _COLLECTORS.set((*_COLLECTORS.get(), calls))
    try:
        yield calls
    finally:
        _COLLECTORS.reset(token)


def report(call: ProviderCall) -> None:
    """Record ``call`` in every active collector and in the current metrics registry.

    Metrics never break a reply: a failing sink is logged, and the reply goes on.
    """
    for calls in _COLLECTORS.get():
        calls.append(call)

    registry = metrics.current()
    try:
        registry.increment("llm_calls", provider=call.provider)
        if call.ttft_ms is not None:
            registry.observe("llm_provider_ttft", call.ttft_ms)
        for kind, tokens in (
            ("prompt", call.prompt_tokens),
            ("completion", call.completion_tokens),
        ):
            if tokens is not None:
                registry.increment("llm_tokens", tokens, provider=call.provider, kind=kind)
    except Exception:
        _logger.warning("the metrics of an LLM call could not be recorded", exc_info=True)


def va_overhead_ms(observed_ttft_ms: float, calls: list[ProviderCall]) -> float | None:
    """The part of a turn's time to first text that va added on top of the provider's own.

    ``observed_ttft_ms`` runs from asking the agent to its first text. Only
    defined for a turn answered by one provider call with text (no tool steps,
    no failover): then everything but that call's own time to first text is
    va's (history, routing, building the request, retry and breaker
    bookkeeping, the agent's event plumbing).
    """
    with_text = [call for call in calls if call.ttft_ms is not None]
    if len(calls) != 1 or len(with_text) != 1:
        return None
    provider_ttft = with_text[0].ttft_ms
    assert provider_ttft is not None
    return max(0.0, observed_ttft_ms - provider_ttft)

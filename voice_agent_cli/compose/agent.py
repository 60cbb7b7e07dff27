"""Build a ready agent from the effective settings: the one place that wires the core.

Every command opens its agent with :func:`open_agent`, so chat, talk, join and
bench share the same LLM choice, tools and buffer for a given profile::

    Settings ─► LLM (or its failover chain) ─┐
             ─► response buffer ─────────────┤
             ─► MCP tools ───────────────────┼─► Agent ─► one observer ─► Metrics
             ─► experts, router, rate limits ┘            (turns, breakers)

It sits above the layers it wires (:mod:`voice_agent_cli.config`, the core,
the providers), so none of them needs to import the others.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager
from typing import TYPE_CHECKING

from voice_agent_cli.buffer import build_buffer
from voice_agent_cli.config import Settings
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.core.experts import ExpertAdvisor, ExpertPanel
from voice_agent_cli.core.router import ComplexityRouter
from voice_agent_cli.core.tool_router import ToolRouter
from voice_agent_cli.llm.base import LLM
from voice_agent_cli.llm.fallback import FallbackLLM
from voice_agent_cli.llm.model_files import ProgressCallback
from voice_agent_cli.observe import metrics as observe_metrics
from voice_agent_cli.observe.turns import instrument
from voice_agent_cli.providers import LLMContext, registry
from voice_agent_cli.ratelimit import rate_limits_for
from voice_agent_cli.resilience import BreakerPolicy, CircuitBreakers, RetryPolicy
from voice_agent_cli.tools.mcp import MCPTools

if TYPE_CHECKING:
    from voice_agent_cli.buffer import ResponseBuffer
    from voice_agent_cli.core.settings import BreakerSettings
    from voice_agent_cli.observe.metrics import Metrics
    from voice_agent_cli.tools.base import ToolProvider


def retry_policy(settings: Settings) -> RetryPolicy:
    """The LLM retry policy the profile asks for."""
    llm = settings.profile.llm
    return RetryPolicy(
        max_retries=llm.max_retries,
        base_delay_s=llm.retry_base_delay_s,
        max_delay_s=llm.retry_max_delay_s,
    )


def breaker_policy(settings: BreakerSettings) -> BreakerPolicy:
    """A breaker policy from its profile section."""
    return BreakerPolicy(settings.failure_threshold, settings.recovery_s)


def build_provider(
    settings: Settings,
    provider: str,
    *,
    model: str | None = None,
    progress: ProgressCallback | None = None,
    breakers: CircuitBreakers | None = None,
) -> LLM:
    """The LLM provider called ``provider`` in the registry, with its breaker if ``breakers``
    is given.

    ``model`` overrides the profile's (a Gemini or OpenAI-compatible model name; for
    local, a catalogued model's name or a GGUF path). Imports the provider's SDK only now.
    """
    profile = settings.profile
    context = LLMContext(
        settings,
        provider,
        model=model,
        timeout_s=profile.llm.request_timeout_s,
        retry=retry_policy(settings),
        progress=progress,
    )
    llm = registry.provider("llm", provider).build(context)
    if breakers is not None:
        llm.breaker = breakers.get(
            f"llm:{llm.name}", breaker_policy(profile.resilience.llm_breaker)
        )
    return llm


def build_llm(
    settings: Settings,
    *,
    progress: ProgressCallback | None = None,
    breakers: CircuitBreakers | None = None,
) -> LLM:
    """The LLM the settings select: the failover chain's providers in order
    (:attr:`Settings.llm_chain`), or its only one."""
    providers = [
        build_provider(settings, name, progress=progress, breakers=breakers)
        for name in settings.llm_chain
    ]
    if len(providers) == 1:
        return providers[0]

    return FallbackLLM(providers)


def agent_options(settings: Settings) -> AgentOptions:
    """The provider-independent behaviour the profile asks for."""
    profile = settings.profile
    return AgentOptions(
        system_prompt=profile.llm.system_prompt,
        temperature=profile.llm.temperature,
        max_output_tokens=profile.llm.max_output_tokens,
        max_tool_steps=profile.llm.max_tool_steps,
        max_messages=profile.conversation.max_messages,
        max_history_tokens=profile.conversation.max_tokens,
        filler_after_s=profile.mcp.filler_after_ms / 1000 if profile.mcp.filler_after_ms else None,
        filler_text=profile.mcp.filler_text,
        degraded_reply=profile.resilience.degraded_reply,
        turn_timeout_s=profile.llm.turn_timeout_s,
    )


@asynccontextmanager
async def open_agent(
    settings: Settings,
    *,
    llm: LLM | None = None,
    progress: ProgressCallback | None = None,
    metrics: Metrics | None = None,
) -> AsyncIterator[Agent]:
    """An agent for ``settings``, with everything it opened closed on exit.

    Its turns, provider calls and circuit breakers report into ``metrics`` (the
    command's registry; by default the one in force in this context).
    """
    registry = metrics or observe_metrics.current()
    async with AsyncExitStack() as stack:
        breakers = CircuitBreakers()
        llm = llm or build_llm(settings, progress=progress, breakers=breakers)
        llm.report_to(registry)
        stack.push_async_callback(llm.aclose)
        buffer = _open_buffer(settings, stack)
        # Loading a local model and starting tool servers both take a while: overlap them.
        loading = asyncio.create_task(llm.start(), name="llm-start")
        try:
            tools = await _open_tools(settings, stack, breakers)
        except BaseException:
            loading.cancel()
            with contextlib.suppress(BaseException):
                await loading
            raise
        await loading
        router, experts = _build_experts(settings, llm, tools, breakers, stack, registry)
        limits = None
        if settings.profile.rate_limits.enabled:
            # Shared through Redis when the profile says so: limits hold across processes.
            limits = rate_limits_for(settings.profile)
            stack.push_async_callback(limits.aclose)
        agent = Agent(
            llm,
            agent_options(settings),
            tools=tools,
            buffer=buffer,
            router=router,
            experts=experts,
            limits=limits,
            breakers=breakers,
            tool_router=_tool_router(settings),
            metrics=registry,
        )
        _observe(agent, breakers, registry)
        yield agent


def _tool_router(settings: Settings) -> ToolRouter | None:
    """va's tool-detection rules, unless the profile leaves every decision to the model."""
    if settings.profile.llm.tool_routing != "rules":
        return None

    return ToolRouter()


def _observe(agent: Agent, breakers: CircuitBreakers, registry: Metrics) -> None:
    """One observer measures every turn; breaker states feed the same metrics."""
    instrument(agent, registry)
    for breaker in breakers:
        registry.circuit(breaker.name, breaker.state)
    breakers.listen(registry.breaker_transition)


def _open_buffer(settings: Settings, stack: AsyncExitStack) -> ResponseBuffer | None:
    """The profile's response buffer (pre-buffered replies, reply cache), closed with the stack."""
    buffer = build_buffer(settings)
    if buffer is not None:
        stack.push_async_callback(buffer.aclose)
    return buffer


async def _open_tools(
    settings: Settings, stack: AsyncExitStack, breakers: CircuitBreakers
) -> MCPTools | None:
    """The profile's MCP servers, started in parallel and stopped with the stack.

    A server that fails to start only costs its own tools (``va tools health`` says why).
    """
    if not settings.profile.mcp.enabled_servers():
        return None

    return await stack.enter_async_context(
        MCPTools.for_profile(settings.profile, breakers=breakers)
    )


def _build_experts(
    settings: Settings,
    llm: LLM,
    tools: ToolProvider | None,
    breakers: CircuitBreakers,
    stack: AsyncExitStack,
    registry: Metrics,
) -> tuple[ComplexityRouter | None, ExpertPanel | None]:
    """The complexity router and expert panel, when the profile enables experts."""
    experts = settings.profile.experts
    if not experts.enabled or not experts.advisors:
        return None, None

    policy = breaker_policy(settings.profile.resilience.expert_breaker)
    advisors = []
    for advisor in experts.advisors:
        own = advisor.provider != "main"
        advisor_llm = (
            build_provider(settings, advisor.provider, model=advisor.model) if own else llm
        )
        advisor_llm.report_to(registry)
        advisors.append(
            ExpertAdvisor(
                advisor,
                advisor_llm,
                breaker=breakers.get(f"expert:{advisor.name}", policy),
                tools=tools,
                owns_llm=own,
            )
        )
    panel = ExpertPanel(experts, advisors)
    stack.push_async_callback(panel.aclose)
    return ComplexityRouter(experts, classifier=llm), panel

"""Build a ready agent from the effective settings: the one place that wires the core.

Every command opens its agent with :func:`open_agent`, so chat, talk, join and
bench share the same LLM choice, tools and buffer for a given profile.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import AsyncExitStack, asynccontextmanager

from voice_agent_cli.config import Settings
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.llm.base import LLM
from voice_agent_cli.llm.model_files import ProgressCallback
from voice_agent_cli.resilience import RetryPolicy


def retry_policy(settings: Settings) -> RetryPolicy:
    """The LLM retry policy the profile asks for."""
    llm = settings.profile.llm
    return RetryPolicy(
        max_retries=llm.max_retries,
        base_delay_s=llm.retry_base_delay_s,
        max_delay_s=llm.retry_max_delay_s,
    )


def build_llm(settings: Settings, *, progress: ProgressCallback | None = None) -> LLM:
    """The LLM provider the settings select (imports its SDK only now)."""
    profile = settings.profile
    if settings.llm_provider == "gemini":
        from voice_agent_cli.llm.gemini import GeminiLLM

        return GeminiLLM(
            model=profile.gemini.model,
            api_key=settings.gemini_api_key,
            base_url=profile.gemini.base_url,
            api_version=profile.gemini.api_version,
            timeout_s=profile.llm.request_timeout_s,
            retry=retry_policy(settings),
        )
    from voice_agent_cli.llm.local import LocalLLM

    return LocalLLM(
        model_path=profile.local.model_path,
        n_ctx=profile.local.n_ctx,
        n_threads=profile.local.n_threads,
        timeout_s=profile.llm.request_timeout_s,
        retry=retry_policy(settings),
        progress=progress,
    )


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
    )


@asynccontextmanager
async def open_agent(
    settings: Settings,
    *,
    llm: LLM | None = None,
    progress: ProgressCallback | None = None,
) -> AsyncIterator[Agent]:
    """An agent for ``settings``, with everything it opened closed on exit."""
    async with AsyncExitStack() as stack:
        llm = llm or build_llm(settings, progress=progress)
        agent = Agent(llm, agent_options(settings))
        stack.push_async_callback(agent.aclose)
        yield agent

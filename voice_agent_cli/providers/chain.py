"""Which LLM providers answer, in which order: the profile's failover chain, resolved.

::

    [llm] provider = "auto" | a name        [llm] chain = ["gemini", "openai", "local"]
                       │                                   │
                       └──────────► llm_chain(settings) ◄──┘   (no chain: provider, then
                                          │                     [resilience] fallback)
                                          ▼
                          ["gemini", "openai", "local"]  ─► FallbackLLM, in that order

A provider named explicitly (``--llm openai``) goes first, the rest of the chain
behind it. Providers that cannot work here (Gemini without a key, a plugin
that fails to import) are left out, except one the user named: its own error
then says what is missing.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from voice_agent_cli.errors import ProviderUnavailable
from voice_agent_cli.providers import registry

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings

logger = logging.getLogger("va.providers")


def llm_chain(settings: Settings) -> list[str]:
    """The providers that answer, in order of preference; the first is the main one."""
    llm = settings.profile.llm
    named = llm.provider if llm.provider != "auto" else None
    if llm.chain:
        wanted = list(llm.chain)
    else:
        first = named or ("gemini" if settings.gemini_api_key else "local")
        wanted = [first, *settings.profile.resilience.fallback]
    if named is not None:
        wanted = [named, *wanted]
    order = list(dict.fromkeys(wanted))
    usable = [name for name in order if name == named or _usable(settings, name)]
    return usable or order[:1]


def _usable(settings: Settings, name: str) -> bool:
    """Can ``name`` answer here? A fallback that cannot (no key, a broken plugin) is left out."""
    try:
        reason = registry.provider("llm", name).unusable(settings)
    except ProviderUnavailable as exc:
        logger.warning("%s: left out of the failover chain", exc.message)
        return False
    if reason is not None:
        logger.info("LLM provider %s left out of the chain: %s", name, reason)
    return reason is None


def describe_chain(settings: Settings) -> str:
    """The chain in words, each provider with its model: "gemini:x -> local:y"."""
    described = []
    for name in settings.llm_chain:
        model = registry.provider("llm", name).model(settings, name)
        described.append(f"{name}:{model}" if model else name)
    return " -> ".join(described)

"""Providers of LLMs, speech to text and text to speech, found by name in one registry.

``[llm] provider``, ``[llm] chain``, ``[stt] engine`` and ``[tts] engine`` name
providers; :mod:`~voice_agent_cli.providers.registry` finds them among va's
own and those installed packages declare in the entry-point groups ``va.llm``,
``va.stt`` and ``va.tts``. :mod:`~voice_agent_cli.providers.base` says what a
provider is; :mod:`~voice_agent_cli.providers.chain` resolves the LLM failover
chain. ``va providers`` lists them all.
"""

from voice_agent_cli.providers.base import (
    KINDS,
    Kind,
    LLMContext,
    LLMProvider,
    ModelList,
    SpeechContext,
    STTProvider,
    TTSProvider,
)

__all__ = [
    "KINDS",
    "Kind",
    "LLMContext",
    "LLMProvider",
    "ModelList",
    "STTProvider",
    "SpeechContext",
    "TTSProvider",
]

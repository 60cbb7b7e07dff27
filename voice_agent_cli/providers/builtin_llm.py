"""va's own LLM providers: the embedded model, Gemini, and any OpenAI-compatible server.

Each builds its LLM from its profile section (``[local]``, ``[gemini]``,
``[openai]``) and imports the SDK only then, so choosing a provider costs
nothing until it answers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from voice_agent_cli.errors import VAError
from voice_agent_cli.llm.catalogue import MODELS, resolve_model
from voice_agent_cli.llm.gemini import GeminiLLM
from voice_agent_cli.llm.local import LocalLLM
from voice_agent_cli.llm.openai import OpenAILLM
from voice_agent_cli.llm.settings import GEMINI_MODELS
from voice_agent_cli.providers.base import LLMContext, LLMProvider, ModelList

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.llm.base import LLM


class LocalProvider(LLMProvider):
    """The embedded llama.cpp model: offline, always there."""

    description = "the embedded llama.cpp model (offline)"

    def build(self, context: LLMContext) -> LLM:
        local = context.settings.profile.local
        return LocalLLM(
            model=context.model or local.model,
            n_ctx=local.n_ctx,
            n_threads=local.n_threads,
            timeout_s=context.timeout_s,
            retry=context.retry,
            progress=context.progress,
        )

    def model(self, settings: Settings, name: str) -> str:
        return resolve_model(settings.profile.local.model).name

    def model_key(self, name: str) -> str:
        return "local.model"

    async def models(self, settings: Settings, name: str, *, timeout_s: float) -> ModelList:
        return ModelList(list(MODELS), "catalogue")


class GeminiProvider(LLMProvider):
    """Gemini through the google-genai SDK (needs an API key)."""

    description = "Google Gemini (google-genai SDK; needs GEMINI_API_KEY)"

    def build(self, context: LLMContext) -> LLM:
        settings = context.settings
        gemini = settings.profile.gemini
        return GeminiLLM(
            model=context.model or gemini.model,
            api_key=settings.gemini_api_key,
            base_url=gemini.base_url,
            api_version=gemini.api_version,
            timeout_s=context.timeout_s,
            retry=context.retry,
            thinking_level=gemini.thinking_level,
            thinking_budget=gemini.thinking_budget,
        )

    def model(self, settings: Settings, name: str) -> str:
        return settings.profile.gemini.model

    def model_key(self, name: str) -> str:
        return "gemini.model"

    def unusable(self, settings: Settings) -> str | None:
        if settings.gemini_api_key is None:
            return f"no API key (set {' or '.join(settings.profile.gemini.api_key_env)})"
        return None

    async def models(self, settings: Settings, name: str, *, timeout_s: float) -> ModelList:
        return ModelList(list(GEMINI_MODELS), "known names")


class OpenAIProvider(LLMProvider):
    """Any OpenAI-compatible server (Ollama, llama.cpp, vLLM, OpenAI...), by ``[openai]``."""

    description = "any OpenAI-compatible server (openai SDK; [openai] base_url)"

    def build(self, context: LLMContext) -> LLM:
        settings = context.settings
        return OpenAILLM.from_settings(
            settings.profile.openai,
            api_key=settings.openai_api_key,
            model=context.model,
            timeout_s=context.timeout_s,
            retry=context.retry,
        )

    def model(self, settings: Settings, name: str) -> str:
        return settings.profile.openai.model

    def model_key(self, name: str) -> str:
        return "openai.model"

    async def models(self, settings: Settings, name: str, *, timeout_s: float) -> ModelList:
        """What the server lists at ``/v1/models``; a server that cannot be asked (down, no
        key) is a note, not a failure."""
        llm = OpenAILLM.from_settings(
            settings.profile.openai, api_key=settings.openai_api_key, timeout_s=timeout_s
        )
        try:
            served = await llm.list_models()
        except VAError as exc:
            return ModelList([], "server", note=exc.message)
        finally:
            await llm.aclose()
        return ModelList(served, "server")

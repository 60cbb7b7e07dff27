"""An example third-party LLM provider for va: it echoes what it is told, with a prefix.

Its settings come from the profile's ``[providers.echo]`` table::

    [providers.echo]
    prefix = "echo:"
    model = "echo-1"
"""

from __future__ import annotations

from collections.abc import AsyncGenerator
from typing import TYPE_CHECKING

from voice_agent_cli.llm.base import LLM, LLMRequest, ProviderChunk, TextChunk
from voice_agent_cli.providers import LLMContext, LLMProvider, ModelList

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.resilience import RetryPolicy


class EchoLLM(LLM):
    """Says back the last user message, after ``prefix``."""

    provider = "echo"

    def __init__(
        self, *, model: str, prefix: str, timeout_s: float, retry: RetryPolicy | None
    ) -> None:
        super().__init__(model=model, timeout_s=timeout_s, retry=retry)
        self.prefix = prefix

    async def _stream_impl(self, request: LLMRequest) -> AsyncGenerator[ProviderChunk, None]:
        said = next(m.content for m in reversed(request.messages) if m.role == "user")
        for word in f"{self.prefix} {said}".split(" "):
            yield TextChunk(word + " ")


class EchoProvider(LLMProvider):
    """Builds an :class:`EchoLLM` from ``[providers.echo]``."""

    description = "echoes the user (an example plugin)"

    def build(self, context: LLMContext) -> LLM:
        options = context.options
        return EchoLLM(
            model=context.model or str(options.get("model", "echo-1")),
            prefix=str(options.get("prefix", "echo:")),
            timeout_s=context.timeout_s,
            retry=context.retry,
        )

    def model(self, settings: Settings, name: str) -> str:
        return super().model(settings, name) or "echo-1"

    async def models(self, settings: Settings, name: str, *, timeout_s: float) -> ModelList:
        return ModelList(["echo-1", "echo-2"], "plugin")

"""What ``va providers`` shows: every installed provider, its role in the profile, its models.

::

    registry.entries(kind) ─► load (a broken plugin: its one-line error)
                           ─► role in the profile (LLM: place in the chain; STT/TTS: engine)
                           ─► models (LLMs asked side by side, each within the timeout)

Nothing here raises for one provider's sake: a plugin that cannot be loaded,
a server that does not answer, a ``models()`` that fails are all notes on
their own row.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from voice_agent_cli.errors import VAError
from voice_agent_cli.providers import registry
from voice_agent_cli.providers.base import (
    KINDS,
    Kind,
    LLMProvider,
    ModelList,
    STTProvider,
    TTSProvider,
)

if TYPE_CHECKING:
    from collections.abc import Sequence

    from voice_agent_cli.config import Settings
    from voice_agent_cli.providers.base import Provider
    from voice_agent_cli.providers.registry import Entry


@dataclass(frozen=True)
class ProviderInfo:
    """One row of ``va providers``."""

    kind: Kind
    name: str
    origin: str
    description: str
    #: "main", "fallback 2"... for LLMs in the chain; "in use" for STT/TTS; "" if unused.
    role: str
    #: The model the profile asks of it ("" when it names none).
    model: str
    models: ModelList
    #: Why the provider cannot be loaded at all, if it cannot.
    error: str | None = None

    @property
    def in_use(self) -> bool:
        return bool(self.role)

    @property
    def trouble(self) -> str | None:
        """What keeps it from working, if anything (a load error, an unreachable server)."""
        return self.error or self.models.note

    def as_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "name": self.name,
            "origin": self.origin,
            "description": self.description,
            "in_use": self.in_use,
            "role": self.role or None,
            "model": self.model or None,
            "models": self.models.models,
            "models_source": self.models.source,
            "note": self.models.note,
            "error": self.error,
        }


async def survey(
    settings: Settings, kinds: Sequence[Kind] = KINDS, *, timeout_s: float = 3.0
) -> list[ProviderInfo]:
    """Every installed provider of ``kinds``, in registry order; model lists asked side by side."""
    rows = [_row(settings, entry, timeout_s) for kind in kinds for entry in registry.entries(kind)]
    return list(await asyncio.gather(*rows))


async def _row(settings: Settings, entry: Entry, timeout_s: float) -> ProviderInfo:
    role = _role(settings, entry)
    try:
        provider = entry.load()
    except VAError as exc:
        return ProviderInfo(
            entry.kind, entry.name, entry.origin, "", role, "", ModelList([], "none"), exc.message
        )
    model, models = await _models(settings, entry, provider, timeout_s)
    return ProviderInfo(
        entry.kind, entry.name, entry.origin, provider.description, role, model, models
    )


def _role(settings: Settings, entry: Entry) -> str:
    profile = settings.profile
    if entry.kind == "llm":
        chain = settings.llm_chain
        if entry.name not in chain:
            return ""
        place = chain.index(entry.name)
        return "main" if place == 0 else f"fallback {place}"
    engine = profile.stt.engine if entry.kind == "stt" else profile.tts.engine
    return "in use" if entry.name == engine else ""


async def _models(
    settings: Settings, entry: Entry, provider: Provider, timeout_s: float
) -> tuple[str, ModelList]:
    """The profile's model and the known ones; a provider's failure becomes a note."""
    try:
        if isinstance(provider, LLMProvider):
            model = provider.model(settings, entry.name)
            async with asyncio.timeout(timeout_s + 1):  # a safety net around a plugin's own
                listed = await provider.models(settings, entry.name, timeout_s=timeout_s)
            unusable = provider.unusable(settings)  # why a chain leaves it out (no key...)
            if unusable and not listed.note:
                listed = ModelList(listed.models, listed.source, note=f"cannot answer: {unusable}")
            return model, listed
        profile = settings.profile
        if isinstance(provider, STTProvider):
            listed, engine = provider.models(profile.stt), profile.stt.engine
        else:
            assert isinstance(provider, TTSProvider)
            listed, engine = provider.models(profile.tts), profile.tts.engine
        chosen = entry.name == engine and listed.models
        return (listed.models[0] if chosen else ""), listed
    except TimeoutError:
        return "", ModelList([], "none", note=f"no answer within {timeout_s:g} s")
    except VAError as exc:
        return "", ModelList([], "none", note=exc.message)
    except Exception as exc:  # a plugin's bug is a note on its row, not a traceback
        return "", ModelList([], "none", note=f"models unavailable ({type(exc).__name__})")

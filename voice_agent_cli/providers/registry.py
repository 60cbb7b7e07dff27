"""The one registry of providers: va's own, and those installed packages add.

::

    BUILT_IN (name -> "module:attr")  ─┐
                                        ├─► entries(kind) ─► find(kind, name) ─► load() ─► provider
    entry points va.llm/va.stt/va.tts ─┘       (names only: nothing imported)

Names are known without importing anything, and the installed packages'
metadata is read only for a name that is not a built-in's (reading it costs
tens of milliseconds), so validating a profile costs nothing in the common
case; a provider's module is imported only when it is used
(or listed by ``va providers``). A plugin that fails to import, or names
something that is not a provider, becomes one
:class:`~voice_agent_cli.errors.ProviderUnavailable` line, never a traceback;
a plugin never replaces a built-in of the same name.
"""

from __future__ import annotations

import functools
import importlib
import logging
from dataclasses import dataclass
from importlib.metadata import entry_points
from typing import TYPE_CHECKING, overload

from voice_agent_cli.errors import ConfigError, ProviderUnavailable
from voice_agent_cli.providers.base import KINDS, Kind, LLMProvider, STTProvider, TTSProvider

if TYPE_CHECKING:
    from typing import Literal

    from voice_agent_cli.providers.base import Provider

logger = logging.getLogger("va.providers")

#: va's own providers, by kind and name: where each lives.
BUILT_IN: dict[Kind, dict[str, str]] = {
    "llm": {
        "local": "voice_agent_cli.providers.builtin_llm:LocalProvider",
        "gemini": "voice_agent_cli.providers.builtin_llm:GeminiProvider",
        "openai": "voice_agent_cli.providers.builtin_llm:OpenAIProvider",
    },
    "stt": {
        "faster-whisper": "voice_agent_cli.providers.builtin_speech:FasterWhisperProvider",
        "openai-whisper": "voice_agent_cli.providers.builtin_speech:OpenAIWhisperProvider",
    },
    "tts": {
        "piper": "voice_agent_cli.providers.builtin_speech:PiperProvider",
    },
}

_BASES: dict[Kind, type[Provider]] = {"llm": LLMProvider, "stt": STTProvider, "tts": TTSProvider}


@dataclass(frozen=True)
class Entry:
    """One provider the registry knows by name, before it is imported."""

    kind: Kind
    name: str
    #: ``module:attribute`` of the provider (an instance or a class).
    target: str
    #: "built-in", or the distribution that installed it ("va-example-provider 0.1.0").
    origin: str

    @property
    def built_in(self) -> bool:
        return self.origin == "built-in"

    def load(self) -> Provider:
        """Import the provider; any failure is one line naming the plugin and the cause."""
        return _load(self)


@functools.cache
def _plugins() -> tuple[Entry, ...]:
    """Every provider installed packages declare (read once per process; names only)."""
    found: list[Entry] = []
    for kind in KINDS:
        for point in entry_points(group=f"va.{kind}"):
            dist = point.dist
            origin = f"{dist.name} {dist.version}" if dist is not None else "a plugin"
            found.append(Entry(kind, point.name, point.value, origin))
    return tuple(found)


def refresh() -> None:
    """Forget what was read of the installed packages (after installing one at run time)."""
    _plugins.cache_clear()
    _load.cache_clear()


def entries(kind: Kind) -> list[Entry]:
    """The providers of ``kind``: built-ins first, then plugins (a plugin never shadows a
    built-in, and the first of two plugins with one name wins)."""
    chosen = {name: Entry(kind, name, where, "built-in") for name, where in BUILT_IN[kind].items()}
    for entry in _plugins():
        if entry.kind != kind:
            continue
        if entry.name in chosen:
            logger.warning(
                "the %s provider %r from %s is ignored: %s already has that name",
                kind,
                entry.name,
                entry.origin,
                chosen[entry.name].origin,
            )
            continue
        chosen[entry.name] = entry
    return list(chosen.values())


def names(kind: Kind) -> list[str]:
    """The names a profile may use for ``kind``."""
    return [entry.name for entry in entries(kind)]


def find(kind: Kind, name: str) -> Entry:
    """The entry called ``name``; an unknown name is a usage error listing the known ones."""
    if name in BUILT_IN[kind]:  # no need to read the installed packages' metadata
        return Entry(kind, name, BUILT_IN[kind][name], "built-in")
    for entry in entries(kind):
        if entry.name == name:
            return entry
    raise ConfigError(unknown(kind, name))


def unknown(kind: Kind, name: str) -> str:
    """The message for a name no provider of ``kind`` has."""
    return f"unknown {kind} provider {name!r} (installed: {', '.join(names(kind))})"


@overload
def provider(kind: Literal["llm"], name: str) -> LLMProvider: ...
@overload
def provider(kind: Literal["stt"], name: str) -> STTProvider: ...
@overload
def provider(kind: Literal["tts"], name: str) -> TTSProvider: ...
def provider(kind: Kind, name: str) -> Provider:
    """The loaded provider of ``kind`` called ``name``."""
    return find(kind, name).load()


@functools.cache
def _load(entry: Entry) -> Provider:
    where = "" if entry.built_in else f" from {entry.origin}"
    what = f"the {entry.kind} provider {entry.name!r}{where}"
    module_name, _, attribute = entry.target.partition(":")
    try:
        found: object = importlib.import_module(module_name)
        for part in filter(None, attribute.split(".")):
            found = getattr(found, part)
        if isinstance(found, type):
            found = found()
    except Exception as exc:  # a plugin's bug must not become a traceback
        raise ProviderUnavailable(
            f"{what} could not be loaded ({type(exc).__name__}: {_first_line(exc)})"
        ) from exc
    base = _BASES[entry.kind]
    if not isinstance(found, base):
        raise ProviderUnavailable(
            f"{what} is not a provider: {entry.target} is a {type(found).__name__}, "
            f"not a {base.__name__}"
        )
    return found


def _first_line(exc: Exception) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0][:200] if lines else "no message"


def checked(kind: Kind, name: str) -> str:
    """``name`` if a provider of ``kind`` has it; a ``ValueError`` for pydantic if not."""
    if name not in BUILT_IN[kind] and name not in names(kind):
        raise ValueError(unknown(kind, name))
    return name

"""The reply cache's storage seam: one interface, a diskcache and a Redis implementation.

A store keeps :class:`CachedReply` entries under their key, bounded by an LRU
policy (a ``get`` counts as a use; the least recently used entry goes first
when a ``put`` goes over ``max_entries``) and a per-entry TTL. Expiry is
decided by the buffer's clock from the entry's own ``expires_at`` (so tests
inject a clock); the backend also gets the TTL, to drop dead entries itself.

Stores raise only :class:`~voice_agent_cli.errors.CacheError` subclasses:
``CacheUnavailable`` when the backend is gone or damaged, ``CacheBusy`` when a
lookup would have to wait on another process's lock.

Entries are JSON, never pickle: a shared Redis must not be a way to run code
in every ``va`` that reads it.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from typing import Any, Protocol

from voice_agent_cli.text import clean_text


@dataclass(frozen=True)
class CachedReply:
    """One cached LLM reply and what it was an answer to."""

    key: str
    question: str
    normalized: str
    reply: str
    llm: str
    created_at: float
    expires_at: float
    uses_history: bool = False

    def to_json(self) -> str:
        """The entry as stored (always valid UTF-8, whatever a provider sent)."""
        return clean_text(json.dumps(asdict(self), ensure_ascii=False, separators=(",", ":")))

    @classmethod
    def from_json(cls, text: str | bytes) -> CachedReply:
        """Read a stored entry; ``ValueError`` if it is not one."""
        try:
            data = json.loads(text)
            entry = cls(**data)
        except (TypeError, KeyError, RecursionError) as exc:
            raise ValueError(f"not a cached reply: {exc}") from None
        for name, kind in _FIELD_TYPES.items():
            if not isinstance(getattr(entry, name), kind):
                raise ValueError(f"not a cached reply: {name} is not a {kind}")
        return entry

    def as_dict(self) -> dict[str, Any]:
        """Plain data for ``va cache list/export``."""
        return asdict(self)


#: What each field of a stored entry must hold (another process or a hand may have written it).
_FIELD_TYPES: dict[str, type | tuple[type, ...]] = {
    "key": str,
    "question": str,
    "normalized": str,
    "reply": str,
    "llm": str,
    "created_at": (int, float),
    "expires_at": (int, float),
    "uses_history": bool,
}


class ReplyStore(Protocol):
    """Where cached replies live (see the module doc for the contract)."""

    #: ``disk`` or ``redis``.
    backend: str
    #: Where the store is, safe to print (a path, or a URL without its password).
    location: str

    async def get(self, key: str) -> CachedReply | None:
        """The entry under ``key`` (marking it recently used), or ``None``."""
        ...

    async def put(self, entry: CachedReply, ttl_s: float, max_entries: int) -> int:
        """Store ``entry``, then evict LRU entries over ``max_entries``; returns evictions."""
        ...

    async def delete(self, key: str) -> None:
        """Forget one entry (no error if absent)."""
        ...

    async def clear(self) -> int:
        """Forget every entry; returns how many there were."""
        ...

    async def entries(self) -> list[CachedReply]:
        """Every entry, most recently used first, without marking any as used."""
        ...

    async def size(self) -> int:
        """How many entries are stored."""
        ...

    async def add_counters(self, deltas: dict[str, int]) -> None:
        """Add to the shared statistics counters."""
        ...

    async def read_counters(self) -> dict[str, int]:
        """The shared statistics counters."""
        ...

    async def reset_counters(self) -> None:
        """Zero the shared statistics."""
        ...

    async def aclose(self) -> None:
        """Release connections and threads."""
        ...

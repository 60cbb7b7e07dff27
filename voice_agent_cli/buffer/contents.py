"""The buffer's contents as ``va cache`` shows them: statistics, listing, export; clearing.

::

    profile ─► build_buffer(strict) ─► opened(settings) ─┬─► stats_report: counters, size
                                                         ├─► listing: what people said, redacted
                                                         ├─► export_document: all of it, JSON
                                                         └─► clear: forget the cached replies

Each call opens the profile's backend strictly (a cache that cannot be
opened is an error here, not a silent miss) and closes it again.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from voice_agent_cli.buffer import StatsSnapshot, build_buffer
from voice_agent_cli.errors import UsageError
from voice_agent_cli.privacy import shown

if TYPE_CHECKING:
    from voice_agent_cli.buffer.response_buffer import ResponseBuffer
    from voice_agent_cli.config import Settings


@asynccontextmanager
async def opened(settings: Settings) -> AsyncIterator[ResponseBuffer]:
    """The profile's buffer with its backend opened strictly (failures are errors here)."""
    buffer = build_buffer(settings, strict=True)
    if buffer is None:
        raise UsageError(
            f"profile {settings.profile.name!r} turns the response buffer off "
            "([buffer] and [cache] enabled = false)"
        )
    try:
        yield buffer
    finally:
        await buffer.aclose()


async def stats_report(settings: Settings) -> dict[str, Any]:
    """Hits and misses per layer, hit rate, evictions, size and lookup latency."""
    cache = settings.profile.cache
    async with opened(settings) as buffer:
        store = buffer.cache
        counters = await store.read_counters() if store else {}
        size = await store.size() if store else 0
        prebuffered = len(buffer.prebuffered)
    return {
        "profile": settings.profile.name,
        "cache_enabled": store is not None,
        "backend": store.backend if store else None,
        "location": store.location if store else None,
        "entries": size,
        "max_entries": cache.max_entries,
        "ttl_s": cache.ttl_s,
        "prebuffered_replies": prebuffered,
        **StatsSnapshot.from_counters(counters).as_json(),
    }


async def listing(settings: Settings) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The pre-buffered replies, and the cached ones as shown: what people said, redacted."""
    async with opened(settings) as buffer:
        prebuffered = [entry.as_dict() for entry in buffer.prebuffered.entries]
        entries = await buffer.cache.entries() if buffer.cache else []
    now = time.time()
    listed = []
    for entry in entries:
        if entry.expires_at > now:
            item = entry.as_dict()
            for name in ("question", "normalized", "reply"):
                item[name] = shown(item[name])
            listed.append(item)
    return prebuffered, listed


async def clear(settings: Settings, reset_stats: bool) -> int:
    """Forget every cached reply (and the statistics too, with ``reset_stats``)."""
    async with opened(settings) as buffer:
        if buffer.cache is None:
            return 0
        removed = await buffer.cache.clear()
        if reset_stats:
            await buffer.cache.reset_counters()
        return removed


async def export_document(settings: Settings) -> dict[str, Any]:
    """Everything the buffer holds, as one JSON-ready document."""
    stats = await stats_report(settings)
    prebuffered, entries = await listing(settings)
    return {
        "format": "va-cache-export",
        "version": 1,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": settings.profile.name,
        "backend": stats["backend"],
        "location": stats["location"],
        "prebuffered": prebuffered,
        "cache": entries,
        "stats": stats,
    }

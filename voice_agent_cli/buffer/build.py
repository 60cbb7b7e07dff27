"""Build the response buffer a profile asks for (the agent's and ``va cache``'s one entry)."""

from __future__ import annotations

import logging
import time
from pathlib import Path
from typing import TYPE_CHECKING

from voice_agent_cli.buffer.custom import CustomResponses
from voice_agent_cli.buffer.disk import open_disk_store
from voice_agent_cli.buffer.policy import CachePolicy
from voice_agent_cli.buffer.prebuffered import PrebufferedEntry
from voice_agent_cli.buffer.redis_store import RedisReplyStore
from voice_agent_cli.buffer.response_buffer import Clock, ResponseBuffer
from voice_agent_cli.buffer.store import ReplyStore
from voice_agent_cli.errors import CacheError
from voice_agent_cli.paths import va_home

if TYPE_CHECKING:
    from voice_agent_cli.buffer.settings import BufferSettings, CacheSettings
    from voice_agent_cli.config import Settings

logger = logging.getLogger("va.buffer")


def cache_directory(cache: CacheSettings) -> Path:
    """Where the disk backend keeps the cache: ``cache.directory`` or ``VA_HOME/cache``."""
    return cache.directory.expanduser() if cache.directory else va_home() / "cache"


def open_store(cache: CacheSettings) -> ReplyStore:
    """The backend ``cache.backend`` names; raises :class:`~voice_agent_cli.errors.CacheError`."""
    if cache.backend == "redis":
        return RedisReplyStore(cache.redis_url, prefix=cache.redis_prefix)

    return open_disk_store(cache_directory(cache))


def profile_entries(buffer: BufferSettings) -> list[PrebufferedEntry]:
    """The profile's pre-buffered replies, compiled (the profile was validated already)."""
    return [
        PrebufferedEntry.build(reply=item.reply, phrases=item.phrases, pattern=item.pattern)
        for item in buffer.responses
    ]


def build_buffer(
    settings: Settings,
    *,
    store: ReplyStore | None = None,
    clock: Clock = time.time,
    strict: bool = False,
) -> ResponseBuffer | None:
    """The response buffer for ``settings``, or ``None`` when the profile turns it all off.

    A cache backend that cannot be opened is reported once and left out (the
    agent answers without it), unless ``strict`` (``va cache`` commands), where
    the :class:`~voice_agent_cli.errors.CacheError` is raised for the user to see.
    ``store`` replaces the configured backend (tests, the bench).
    """
    profile = settings.profile
    if not profile.buffer.enabled and not profile.cache.enabled:
        return None
    if store is None and profile.cache.enabled:
        try:
            store = open_store(profile.cache)
        except CacheError as exc:
            if strict:
                raise
            logger.warning("reply cache unavailable (%s); answering without it", exc)
    buffer = profile.buffer
    return ResponseBuffer(
        prebuffered=profile_entries(buffer) if buffer.enabled else None,
        custom=CustomResponses() if buffer.enabled and buffer.custom else None,
        store=store if profile.cache.enabled else None,
        policy=CachePolicy.from_settings(profile.cache),
        ttl_s=profile.cache.ttl_s,
        max_entries=profile.cache.max_entries,
        retry_after_s=profile.cache.retry_after_s,
        clock=clock,
        privacy=profile.privacy,
    )

"""The response buffer: what the agent asks before the LLM, and tells after it.

A lookup tries, in order:

1. the pre-buffered replies (custom ones from ``va cache add`` first, then the
   profile's), which answer in microseconds and are never stale;
2. the reply cache, if the question may be answered from it
   (:mod:`~voice_agent_cli.buffer.policy` has the rule and the key).

After a miss the agent asks the LLM and hands the reply to :meth:`store`,
which files it unless the rule says it must not be reused.

The cache is an optimisation, never a dependency: if its backend fails (Redis
went away, the disk cache broke), the turn goes on as a miss, one warning is
logged on logger ``va.buffer``, and the backend is tried again after
``retry_after_s``; its return is logged too. A write the storage refuses (a
full disk) is skipped with one warning, and lookups go on.

What is stored of the user's words follows ``privacy`` (``[privacy]
store_text``): the question as said, redacted, or not at all.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from datetime import datetime

from voice_agent_cli.buffer.custom import CustomResponses
from voice_agent_cli.buffer.normalize import normalize
from voice_agent_cli.buffer.policy import CachePolicy
from voice_agent_cli.buffer.prebuffered import PrebufferedEntry, PrebufferedResponses
from voice_agent_cli.buffer.stats import BufferStats, Outcome, StatsSnapshot
from voice_agent_cli.buffer.store import CachedReply, ReplyStore
from voice_agent_cli.contracts.turns import BufferHit, TurnContext
from voice_agent_cli.errors import CacheBusy, CacheError, CacheWriteFailed
from voice_agent_cli.privacy import PrivacySettings

logger = logging.getLogger("va.buffer")

#: Seconds between checks of the custom replies file for changes.
CUSTOM_RELOAD_INTERVAL_S = 1.0
#: Seconds between saves of the statistics (only done on misses and stores).
STATS_FLUSH_INTERVAL_S = 2.0

Clock = Callable[[], float]


class ResponseBuffer:
    """The agent's :class:`~voice_agent_cli.contracts.turns.ReplyBuffer`: pre-buffered, then cached.

    ``cache`` is the reply store (``None``: pre-buffered replies only); ``stats``
    counts this process's lookups. ``clock`` (wall time, for TTLs and ``{time}``)
    and ``monotonic`` (retry and reload intervals) are injectable for tests.
    """

    def __init__(
        self,
        *,
        prebuffered: list[PrebufferedEntry] | None = None,
        custom: CustomResponses | None = None,
        store: ReplyStore | None = None,
        policy: CachePolicy | None = None,
        ttl_s: float = 86400.0,
        max_entries: int = 100,
        retry_after_s: float = 30.0,
        clock: Clock = time.time,
        monotonic: Clock = time.monotonic,
        privacy: PrivacySettings | None = None,
    ) -> None:
        self.cache = store
        self.privacy = privacy or PrivacySettings()
        self.policy = policy or CachePolicy()
        self.ttl_s = ttl_s
        self.max_entries = max_entries
        self.retry_after_s = retry_after_s
        self.stats = BufferStats()
        self._clock = clock
        self._monotonic = monotonic
        self._profile_entries = list(prebuffered or [])
        self._custom = custom
        self._custom_checked_at = -float("inf")
        self._responses = PrebufferedResponses(self._profile_entries)
        self._refresh_custom(force=True)
        self._down_until = 0.0
        self._warned = False
        self._write_warned = False
        self._flushed_at = monotonic()

    # -- the ReplyBuffer protocol ------------------------------------------------

    async def lookup(self, context: TurnContext) -> BufferHit | None:
        """A ready reply for this turn (pre-buffered or cached), or ``None`` on a miss."""
        started = time.perf_counter()
        normalized = normalize(context.text)
        if normalized:
            reply = self._prebuffered(normalized)
            if reply is not None:
                self._record("prebuffered", started)
                return BufferHit(reply, "prebuffered")
            entry = await self._cached(context, normalized)
            if entry is not None:
                self._record("cache", started)
                return BufferHit(entry.reply, "cache", llm=entry.llm)
        self._record("miss", started)
        # A miss is followed by an LLM call: the moment to save statistics unnoticed.
        await self._maybe_flush()
        return None

    async def store(self, context: TurnContext, reply: str) -> None:
        """File an LLM reply in the cache, unless the caching rule keeps it out."""
        store = self._usable_store()
        if store is None:
            return
        normalized = normalize(context.text)
        if not (
            reply.strip()
            and self.policy.question_is_cacheable(normalized)
            and self.policy.tools_are_cacheable(context.tool_calls)
            and self.privacy.may_keep_verbatim(reply)
        ):
            self.stats.count("not_cacheable")
            return
        key = self.policy.key(context, normalized)
        now = self._clock()
        entry = CachedReply(
            key=key.digest,
            question=self.privacy.stored(context.text) or "",
            normalized=self.privacy.stored(normalized) or "",
            reply=reply,
            llm=context.llm,
            created_at=now,
            expires_at=now + self.ttl_s,
            uses_history=key.uses_history,
        )
        try:
            evicted = await store.put(entry, self.ttl_s, self.max_entries)
        except CacheWriteFailed as exc:
            self._write_skipped(exc)
            return
        except CacheError as exc:
            self._failed(exc)
            return
        self._recovered()
        self._writing_again()
        self.stats.count("stores")
        if evicted:
            self.stats.count("evictions", evicted)
        await self._maybe_flush()

    # -- for commands, the bench and tests -----------------------------------------

    @property
    def prebuffered(self) -> PrebufferedResponses:
        """The pre-buffered replies in use (custom ones first)."""
        self._refresh_custom()
        return self._responses

    def snapshot(self) -> StatsSnapshot:
        """This process's statistics."""
        return self.stats.snapshot()

    async def flush_stats(self) -> None:
        """Save the statistics not yet saved (kept for later if the backend is down)."""
        self._flushed_at = self._monotonic()
        store = self._usable_store()
        if store is None or not self.stats.has_pending:
            return
        pending = self.stats.take_pending()
        try:
            await store.add_counters(pending)
        except CacheWriteFailed as exc:
            self.stats.restore_pending(pending)
            self._write_skipped(exc)
        except CacheError as exc:
            self.stats.restore_pending(pending)
            self._failed(exc)

    async def aclose(self) -> None:
        """Save the statistics and close the backend."""
        try:
            await self.flush_stats()
        finally:
            if self.cache is not None:
                await self.cache.aclose()

    # -- internals -------------------------------------------------------------------

    def _prebuffered(self, normalized: str) -> str | None:
        self._refresh_custom()
        return self._responses.reply_for(normalized, self._now)

    async def _cached(self, context: TurnContext, normalized: str) -> CachedReply | None:
        store = self._usable_store()
        if store is None or not self.policy.question_is_cacheable(normalized):
            return None
        key = self.policy.key(context, normalized)
        try:
            entry = await store.get(key.digest)
        except CacheBusy:
            self.stats.count("busy")
            return None
        except CacheError as exc:
            self._failed(exc)
            return None
        self._recovered()
        if entry is None:
            return None
        if entry.expires_at <= self._clock():
            self.stats.count("expired")
            try:
                await store.delete(key.digest)
            except CacheError as exc:
                self._failed(exc)
            return None
        return entry

    def _usable_store(self) -> ReplyStore | None:
        """The store, unless it failed recently (then the turn runs without it)."""
        if self.cache is None or self._monotonic() < self._down_until:
            return None
        return self.cache

    def _failed(self, exc: CacheError) -> None:
        self.stats.count("errors")
        self._down_until = self._monotonic() + self.retry_after_s
        if not self._warned:
            self._warned = True
            logger.warning(
                "reply cache unavailable (%s); answering without it, retrying every %g s",
                exc,
                self.retry_after_s,
            )

    def _write_skipped(self, exc: CacheWriteFailed) -> None:
        """A write the storage refused: skipped, said once; lookups go on."""
        self.stats.count("errors")
        if not self._write_warned:
            self._write_warned = True
            logger.warning("%s; replies are not cached until it can write again", exc)

    def _writing_again(self) -> None:
        if self._write_warned:
            self._write_warned = False
            assert self.cache is not None
            logger.info("reply cache is storing replies again (%s)", self.cache.location)

    def _recovered(self) -> None:
        if self._warned:
            self._warned = False
            assert self.cache is not None
            logger.info("reply cache is back (%s %s)", self.cache.backend, self.cache.location)

    def _record(self, outcome: Outcome, started: float) -> None:
        self.stats.lookup(outcome, (time.perf_counter() - started) * 1000)

    async def _maybe_flush(self) -> None:
        if self._monotonic() - self._flushed_at >= STATS_FLUSH_INTERVAL_S:
            await self.flush_stats()

    def _refresh_custom(self, *, force: bool = False) -> None:
        """Reload ``va cache add`` replies when their file changed (checked once a second)."""
        if self._custom is None:
            return
        now = self._monotonic()
        if not force and now - self._custom_checked_at < CUSTOM_RELOAD_INTERVAL_S:
            return
        self._custom_checked_at = now
        if self._custom.changed() or force:
            self._responses = PrebufferedResponses([*self._custom.load(), *self._profile_entries])

    def _now(self) -> datetime:
        return datetime.fromtimestamp(self._clock())

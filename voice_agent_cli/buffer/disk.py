"""The reply cache on disk: diskcache (SQLite) with LRU eviction and a TTL per entry.

Layout under the cache directory (``VA_HOME/cache`` by default)::

    replies/   the entries (a diskcache Cache, eviction policy least-recently-used)
    stats/     the statistics counters (a second Cache, so they are never evicted)

diskcache makes every operation a SQLite transaction, so several ``va``
processes share one directory safely. Its own size limit counts bytes, but
the cache is bounded in entries: after each write, entries over
``max_entries`` are evicted in the order of the ``access_time`` column that
diskcache's least-recently-used policy keeps up to date on every ``get``.

A lookup runs on the caller's thread: it is one short SQLite transaction
(about 0.1 ms), cheaper than a hop to a worker thread, and its lock wait is
capped by a short timeout (a busy cache is a miss, never a stall). Writes and
maintenance run on one worker thread owned by the store, off the event loop.

A directory that cannot be opened (a damaged database, a file in the way) is
moved aside and rebuilt by :func:`open_disk_store`; if that fails too, the
caller runs without a cache.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path
from typing import Any, TypeVar

from voice_agent_cli.buffer.store import CachedReply
from voice_agent_cli.errors import CacheBusy, CacheUnavailable
from voice_agent_cli.paths import exclusive_lock

logger = logging.getLogger("va.buffer")

T = TypeVar("T")

#: How long a lookup waits on another process's write lock before it counts as a miss.
LOOKUP_TIMEOUT_S = 0.05
#: Writes run off the loop, so they may wait longer (attempts x timeout).
WRITE_ATTEMPTS = 40


class _DamagedCache(CacheUnavailable):
    """The directory or database is broken (not merely busy): rebuilding may help."""


class DiskReplyStore:
    """A :class:`~voice_agent_cli.buffer.store.ReplyStore` on diskcache."""

    backend = "disk"

    def __init__(self, directory: Path, *, timeout_s: float = LOOKUP_TIMEOUT_S) -> None:
        import diskcache

        self.directory = directory
        self.location = str(directory)
        self._timeout_error = diskcache.Timeout
        replies = stats = None
        try:
            with self._translate("open"):
                replies = diskcache.Cache(
                    str(directory / "replies"),
                    timeout=timeout_s,
                    eviction_policy="least-recently-used",
                    statistics=False,
                )
                stats = diskcache.Cache(
                    str(directory / "stats"), timeout=timeout_s, eviction_policy="none"
                )
                len(replies)  # reads the database: a damaged one fails here, not mid-turn
        except BaseException:
            for cache in (replies, stats):
                if cache is not None:
                    cache.close()
            raise
        assert replies is not None and stats is not None
        self._replies = replies
        self._stats = stats
        self._worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="va-cache-disk")
        self.closed = False

    # -- the ReplyStore interface ----------------------------------------------

    async def get(self, key: str) -> CachedReply | None:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        with self._translate("lookup"):
            raw = self._replies.get(key)
        return self._parse(raw)

    async def put(self, entry: CachedReply, ttl_s: float, max_entries: int) -> int:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        return await self._off_loop(self._put, entry, ttl_s, max_entries)

    async def delete(self, key: str) -> None:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        await self._off_loop(self._write, lambda: self._replies.delete(key))

    async def clear(self) -> int:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        return await self._off_loop(self._write, self._replies.clear)

    async def entries(self) -> list[CachedReply]:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        return await self._off_loop(self._entries)

    async def size(self) -> int:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        return await self._off_loop(self._size)

    async def add_counters(self, deltas: dict[str, int]) -> None:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        await self._off_loop(self._write, lambda: self._add_counters(deltas))

    async def read_counters(self) -> dict[str, int]:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        return await self._off_loop(self._read_counters)

    async def reset_counters(self) -> None:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        await self._off_loop(self._write, self._stats.clear)

    async def aclose(self) -> None:
        """Close the databases (on every thread that opened them) and the worker."""
        if self.closed:
            return
        self.closed = True
        loop = asyncio.get_running_loop()
        try:
            await loop.run_in_executor(self._worker, self._close_connections)
        finally:
            self._worker.shutdown(wait=True)
            self._close_connections()

    # -- work done on the worker thread ------------------------------------------

    def _put(self, entry: CachedReply, ttl_s: float, max_entries: int) -> int:
        def write() -> int:
            with self._replies.transact():
                self._replies.set(entry.key, entry.to_json(), expire=ttl_s)
                excess = len(self._replies) - max_entries
                return self._evict_lru(excess) if excess > 0 else 0

        return self._write(write)

    def _evict_lru(self, count: int) -> int:
        # diskcache keeps access_time current for its LRU policy but only culls
        # by bytes; selecting on that column is how we cull by entry count.
        rows = self._replies._sql(
            "SELECT key FROM Cache ORDER BY access_time LIMIT ?", (count,)
        ).fetchall()
        for (key,) in rows:
            self._replies.delete(key)
        return len(rows)

    def _entries(self) -> list[CachedReply]:
        with self._translate("listing"):
            rows = self._replies._sql(  # a listing is not a use
                "SELECT key, mode, filename, value FROM Cache ORDER BY access_time DESC"
            ).fetchall()
            found = []
            for _key, mode, filename, value in rows:
                try:
                    raw = self._replies.disk.fetch(mode, filename, value, False)
                except OSError:  # removed by another process meanwhile
                    continue
                entry = self._parse(raw)
                if entry is not None:
                    found.append(entry)
        return found

    def _size(self) -> int:
        with self._translate("count"):
            self._replies.expire()
            return len(self._replies)

    def _add_counters(self, deltas: dict[str, int]) -> None:
        with self._stats.transact():
            for name, delta in deltas.items():
                self._stats.incr(name, delta)

    def _read_counters(self) -> dict[str, int]:
        with self._translate("statistics"):
            counters: dict[str, int] = {}
            for name in list(self._stats):
                value = self._stats.get(name)
                if isinstance(value, int):
                    counters[str(name)] = value
            return counters

    def _write(self, operation: Callable[[], T]) -> T:
        """Run a write, waiting out other processes' locks for a while."""
        for attempt in range(WRITE_ATTEMPTS):
            try:
                with self._translate("write"):
                    return operation()
            except CacheBusy:
                if attempt == WRITE_ATTEMPTS - 1:
                    raise
                time.sleep(0.005)
        raise AssertionError("unreachable")

    def _close_connections(self) -> None:
        self._replies.close()
        self._stats.close()

    # -- helpers -------------------------------------------------------------------

    async def _off_loop(self, function: Callable[..., T], *args: Any) -> T:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._worker, function, *args)

    @staticmethod
    def _parse(raw: object) -> CachedReply | None:
        # A damaged entry is a miss; the LLM's reply is then stored over it.
        if not isinstance(raw, str | bytes):
            return None
        try:
            return CachedReply.from_json(raw)
        except ValueError:
            return None

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """diskcache/SQLite/OS errors become va's cache errors."""
        try:
            yield
        except self._timeout_error:
            raise CacheBusy(f"reply cache at {self.location} is locked ({what})") from None
        except sqlite3.OperationalError as exc:
            if "locked" in str(exc):
                raise CacheBusy(f"reply cache at {self.location} is locked ({what})") from None
            raise _DamagedCache(f"reply cache at {self.location}: {what} failed: {exc}") from exc
        except (sqlite3.Error, OSError) as exc:
            raise _DamagedCache(f"reply cache at {self.location}: {what} failed: {exc}") from exc


def open_disk_store(directory: Path, *, timeout_s: float = LOOKUP_TIMEOUT_S) -> DiskReplyStore:
    """Open the cache in ``directory``, moving a damaged one aside and starting anew.

    Raises :class:`~voice_agent_cli.errors.CacheUnavailable` when even a new
    cache cannot be made there (the caller then runs without one).
    """
    try:
        return DiskReplyStore(directory, timeout_s=timeout_s)
    except _DamagedCache as damage:
        first_error = damage
    # Several processes may find the same damage: one rebuilds, the others reuse its work.
    lock = directory.parent / f".{directory.name}.lock"
    with exclusive_lock(
        lock, error=lambda exc: CacheUnavailable(f"cannot lock {lock}: {exc.strerror}")
    ):
        try:
            return DiskReplyStore(directory, timeout_s=timeout_s)
        except _DamagedCache:
            pass
        aside = directory.with_name(f"{directory.name}.damaged-{time.strftime('%Y%m%d-%H%M%S')}")
        try:
            os.replace(directory, aside)
        except OSError as exc:
            raise CacheUnavailable(
                f"{first_error}; cannot move it aside ({exc.strerror})"
            ) from None
        logger.warning("%s; moved it to %s and started a new cache", first_error, aside)
        return DiskReplyStore(directory, timeout_s=timeout_s)

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

A directory that is damaged (SQLite says the database is corrupt or not a
database, or a file stands where a directory should be) is moved aside and
rebuilt by :func:`open_disk_store`; if that fails too, the caller runs without
a cache. Storage trouble is not damage: a full disk or an I/O error never moves
a cache aside (its entries are still good once space is freed). Such a write
is skipped (:class:`~voice_agent_cli.errors.CacheWriteFailed`), and a cache that
cannot even be opened is left where it is, the caller running without it.
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
from voice_agent_cli.errors import CacheBusy, CacheError, CacheUnavailable, CacheWriteFailed
from voice_agent_cli.paths import exclusive_lock, private_file

logger = logging.getLogger("va.buffer")

T = TypeVar("T")

#: How long a lookup waits on another process's write lock before it counts as a miss.
LOOKUP_TIMEOUT_S = 0.05
#: Writes run off the loop, so they may wait longer (attempts x timeout).
WRITE_ATTEMPTS = 40


class _DamagedCache(CacheUnavailable):
    """The directory or database is broken (not busy, not out of space): rebuilding helps."""


#: SQLite's primary result codes that mean the file itself is broken.
_SQLITE_CORRUPT = 11
_SQLITE_NOTADB = 26
#: Free space below which an I/O error is reported as a full disk.
_NEARLY_FULL_BYTES = 64 * 1024


def _is_damage(exc: BaseException) -> bool:
    """Does ``exc`` say the cache itself is broken (so moving it aside helps)?"""
    if isinstance(exc, NotADirectoryError | FileExistsError | IsADirectoryError):
        return True  # something stands where the cache's directory or file should be
    code = getattr(exc, "sqlite_errorcode", None)
    if isinstance(code, int):
        return code & 0xFF in (_SQLITE_CORRUPT, _SQLITE_NOTADB)
    text = str(exc)
    return isinstance(exc, sqlite3.DatabaseError) and (
        "malformed" in text or "not a database" in text
    )


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
                # Private from the start: the entries hold what people asked (SQLite's
                # journal files take the database's mode).
                for part in ("replies", "stats"):
                    private_file(directory / part / "cache.db")
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
        try:
            with self._translate("lookup"):
                raw = self._replies.get(key)
        except _DamagedCache:
            raise
        except CacheUnavailable:
            # A full disk cannot take the LRU bookkeeping a get writes; the entry
            # itself is still readable, so the lookup reads it without marking it.
            with self._translate("lookup"):
                raw = self._peek(key)
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

    def _peek(self, key: str) -> object:
        """The stored value under ``key`` without touching it (``None`` if absent)."""
        db_key, raw = self._replies.disk.put(key)
        row = self._replies._sql(
            "SELECT mode, filename, value FROM Cache WHERE key = ? AND raw = ?", (db_key, raw)
        ).fetchone()
        if row is None:
            return None
        mode, filename, value = row
        return self._replies.disk.fetch(mode, filename, value, False)

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
        """diskcache/SQLite/OS errors become va's cache errors.

        Damage is told apart from storage trouble: only damage may lead to the
        cache being moved aside; a failed write is skipped, anything else
        makes the cache unavailable for a while.
        """
        try:
            yield
        except self._timeout_error:
            raise CacheBusy(f"reply cache at {self.location} is locked ({what})") from None
        except (sqlite3.Error, OSError) as exc:
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise CacheBusy(f"reply cache at {self.location} is locked ({what})") from None
            raise self._classified(what, exc) from exc

    def _classified(self, what: str, exc: sqlite3.Error | OSError) -> CacheError:
        reason = exc.strerror if isinstance(exc, OSError) and exc.strerror else str(exc)
        if not _is_damage(exc) and _nearly_full(self.directory):
            reason += " (no space left on the device)"
        message = f"reply cache at {self.location}: {what} failed: {reason}"
        if _is_damage(exc):
            return _DamagedCache(message)
        if what == "write":
            return CacheWriteFailed(message)
        return CacheUnavailable(message)


def _nearly_full(directory: Path) -> bool:
    """Whether the file system that holds ``directory`` has (almost) no space left."""
    for candidate in (directory, *directory.parents):
        try:
            usage = os.statvfs(candidate)
        except OSError:
            continue
        return usage.f_bavail * usage.f_frsize < _NEARLY_FULL_BYTES
    return False


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

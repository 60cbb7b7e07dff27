"""The reply cache on Redis, for several ``va`` instances sharing one cache.

Same semantics as the disk store, made correct for a Redis that other
programs use too (so Redis' own ``maxmemory-policy`` cannot be our LRU):

- each entry is a string key ``{prefix}:e:{key}`` holding JSON, with the TTL
  as its Redis expiry (``PX``);
- recency is a sorted set ``{prefix}:lru`` scored by a server-side counter
  ``{prefix}:tick``, so clocks of different machines never disagree;
- a lookup (GET + touch) and a store (SET + touch + evict over
  ``max_entries``) are each one Lua script: atomic, one round trip;
- statistics are fields of the hash ``{prefix}:stats``, added with HINCRBY.

Members of the sorted set whose entry expired are dropped when they reach the
LRU end (not counted as evictions) and by :meth:`RedisReplyStore.size`.
Timeouts are short and redis-py's own retries are limited to one immediate
reconnect (which also heals pooled connections after a Redis restart): a
refused connection costs a lookup a millisecond, an unreachable host at most
about a second, and the buffer then leaves Redis alone for ``retry_after_s``.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from voice_agent_cli.buffer.store import CachedReply
from voice_agent_cli.errors import CacheUnavailable
from voice_agent_cli.masking import mask_url
from voice_agent_cli.shared_redis import async_redis

if TYPE_CHECKING:
    from redis.asyncio import Redis

#: Socket timeouts (s): a healthy local or LAN Redis answers in well under a millisecond.
CONNECT_TIMEOUT_S = 0.5
COMMAND_TIMEOUT_S = 0.5

_GET = """
local value = redis.call('GET', KEYS[1])
if value then
  redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
else
  redis.call('ZREM', KEYS[2], ARGV[1])
end
return value
"""

_PUT = """
redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
redis.call('ZADD', KEYS[2], redis.call('INCR', KEYS[3]), ARGV[1])
local max = tonumber(ARGV[4])
local evicted = 0
while redis.call('ZCARD', KEYS[2]) > max do
  local oldest = redis.call('ZPOPMIN', KEYS[2])
  if redis.call('DEL', ARGV[5] .. oldest[1]) == 1 then
    evicted = evicted + 1
  end
end
return evicted
"""

_PRUNE = """
local members = redis.call('ZRANGE', KEYS[1], 0, -1)
local live = 0
for _, member in ipairs(members) do
  if redis.call('EXISTS', ARGV[1] .. member) == 1 then
    live = live + 1
  else
    redis.call('ZREM', KEYS[1], member)
  end
end
return live
"""


class RedisReplyStore:
    """A :class:`~voice_agent_cli.buffer.store.ReplyStore` on Redis (redis-py's asyncio API)."""

    backend = "redis"

    def __init__(self, url: str, *, prefix: str = "va:cache") -> None:
        self.location = mask_url(url)
        self._entry_prefix = f"{prefix}:e:"
        self._lru = f"{prefix}:lru"
        self._tick = f"{prefix}:tick"
        self._stats = f"{prefix}:stats"
        try:
            self._client: Redis = async_redis(
                url, connect_timeout_s=CONNECT_TIMEOUT_S, command_timeout_s=COMMAND_TIMEOUT_S
            )
        except ValueError as exc:  # a malformed URL
            raise CacheUnavailable(f"bad Redis URL {self.location}: {exc}") from None
        self._get = self._client.register_script(_GET)
        self._put = self._client.register_script(_PUT)
        self._prune = self._client.register_script(_PRUNE)

    async def get(self, key: str) -> CachedReply | None:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        with self._translate("lookup"):
            raw = await self._get(keys=[self._entry(key), self._lru, self._tick], args=[key])
        if raw is None:
            return None
        try:
            return CachedReply.from_json(raw)
        except ValueError:
            return None  # a damaged entry is a miss; the next store replaces it

    async def put(self, entry: CachedReply, ttl_s: float, max_entries: int) -> int:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        ttl_ms = max(1, round(ttl_s * 1000))
        with self._translate("store"):
            evicted = await self._put(
                keys=[self._entry(entry.key), self._lru, self._tick],
                args=[entry.key, entry.to_json(), ttl_ms, max_entries, self._entry_prefix],
            )
        return int(evicted)

    async def delete(self, key: str) -> None:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        with self._translate("delete"):
            async with self._client.pipeline(transaction=True) as pipe:
                pipe.delete(self._entry(key))
                pipe.zrem(self._lru, key)
                await pipe.execute()

    async def clear(self) -> int:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        removed = 0
        with self._translate("clear"):
            # SCAN rather than the sorted set: it also finds entries a crash left unindexed.
            batch: list[str] = []
            async for name in self._client.scan_iter(match=f"{self._entry_prefix}*", count=500):
                batch.append(name)
                if len(batch) >= 500:
                    removed += await self._client.unlink(*batch)
                    batch.clear()
            if batch:
                removed += await self._client.unlink(*batch)
            await self._client.delete(self._lru)
        return int(removed)

    async def entries(self) -> list[CachedReply]:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        with self._translate("listing"):
            members = await self._client.zrevrange(self._lru, 0, -1)
            names = [self._entry(str(member)) for member in members]
            values = await self._client.mget(names) if names else []
        found = []
        for raw in values:
            if raw is None:
                continue
            try:
                found.append(CachedReply.from_json(raw))
            except ValueError:
                continue
        return found

    async def size(self) -> int:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        with self._translate("count"):
            return int(await self._prune(keys=[self._lru], args=[self._entry_prefix]))

    async def add_counters(self, deltas: dict[str, int]) -> None:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        with self._translate("statistics"):
            async with self._client.pipeline(transaction=False) as pipe:
                for name, delta in deltas.items():
                    pipe.hincrby(self._stats, name, delta)
                await pipe.execute()

    async def read_counters(self) -> dict[str, int]:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        with self._translate("statistics"):
            raw = await self._client.hgetall(self._stats)
        return {str(name): int(value) for name, value in raw.items()}

    async def reset_counters(self) -> None:
        """See :class:`~voice_agent_cli.buffer.store.ReplyStore`."""
        with self._translate("statistics"):
            await self._client.delete(self._stats)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    def _entry(self, key: str) -> str:
        return self._entry_prefix + key

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """redis-py and socket errors become :class:`CacheUnavailable`, password masked."""
        from redis.exceptions import RedisError

        try:
            yield
        except (RedisError, OSError) as exc:
            reason = _reason(exc)
            raise CacheUnavailable(f"redis at {self.location}: {what} failed: {reason}") from None


def _reason(exc: BaseException) -> str:
    """A short reason that never repeats the URL (redis-py messages may hold the host only)."""
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]

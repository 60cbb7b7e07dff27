"""Concurrent tool-call slots shared by every process on one Redis (leased slots).

``[rate_limits] concurrent_tool_calls_per_user`` holds across processes: the
slots of a user are the members of a sorted set ``{prefix}:slots:{user}``,
each scored by the moment its lease ends (Redis' own clock, so machines need
not agree on the time). Taking a slot is one Lua script: drop the leases that
ended, then add ours if fewer than ``limit`` remain. A process that dies
holding a slot loses it when its lease ends (``lease_s``, 30 s); a live
holder renews its lease every third of that. A caller that finds every slot
taken waits and tries again (a short jittered pause that grows to 200 ms).

Every Redis failure is a :class:`~voice_agent_cli.errors.DependencyUnavailable`;
:class:`~voice_agent_cli.ratelimit.RateLimits` then counts in its own process.
"""

from __future__ import annotations

import asyncio
import logging
import random
import secrets
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from voice_agent_cli.errors import DependencyUnavailable
from voice_agent_cli.masking import mask_url
from voice_agent_cli.shared_redis import async_redis

if TYPE_CHECKING:
    from redis.asyncio import Redis

logger = logging.getLogger("va.ratelimit")

# KEYS: the user's slots. ARGV: holder, limit, lease (ms). 1 = taken, 0 = all busy.
_ACQUIRE = """
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now_ms)
if redis.call('ZCARD', KEYS[1]) >= tonumber(ARGV[2]) then
  return 0
end
redis.call('ZADD', KEYS[1], now_ms + tonumber(ARGV[3]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[3])
return 1
"""

# KEYS: the user's slots. ARGV: holder, lease (ms). 1 = renewed, 0 = the lease was lost.
_RENEW = """
local now = redis.call('TIME')
local now_ms = now[1] * 1000 + math.floor(now[2] / 1000)
if not redis.call('ZSCORE', KEYS[1], ARGV[1]) then
  return 0
end
redis.call('ZADD', KEYS[1], 'XX', now_ms + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], ARGV[2])
return 1
"""


@dataclass
class Lease:
    """One slot held by this process, renewed by its own task until released."""

    key: str
    holder: str
    renewal: asyncio.Task[None] | None = field(default=None, repr=False)


class RedisToolSlots:
    """At most ``limit`` concurrent holders per user, across every process on the Redis."""

    def __init__(
        self,
        url: str,
        *,
        prefix: str,
        limit: int,
        lease_s: float = 30.0,
        poll_max_s: float = 0.2,
    ) -> None:
        self.location = mask_url(url)
        self.limit = limit
        self._prefix = prefix
        self._lease_ms = max(1, round(lease_s * 1000))
        self._poll_max_s = poll_max_s
        self._client: Redis = async_redis(url, connect_timeout_s=0.5, command_timeout_s=0.5)
        self._acquire = self._client.register_script(_ACQUIRE)
        self._renew = self._client.register_script(_RENEW)

    async def acquire(self, user: str) -> Lease:
        """Wait for one of ``user``'s slots and hold it (renewed until :meth:`release`)."""
        lease = Lease(key=f"{self._prefix}:slots:{user}", holder=secrets.token_hex(8))
        pause = 0.01
        while True:
            with self._translate("take a tool-call slot"):
                taken = await self._acquire(
                    keys=[lease.key], args=[lease.holder, self.limit, self._lease_ms]
                )
            if int(taken):
                break
            await asyncio.sleep(pause * (0.5 + random.random()))
            pause = min(self._poll_max_s, pause * 2)
        lease.renewal = asyncio.create_task(self._keep(lease), name=f"va-slot-lease-{user}")
        return lease

    async def release(self, lease: Lease) -> None:
        """Give the slot back (at once, for whoever waits)."""
        if lease.renewal is not None:
            lease.renewal.cancel()
            await asyncio.gather(lease.renewal, return_exceptions=True)
        try:
            with self._translate("give a tool-call slot back"):
                await self._client.zrem(lease.key, lease.holder)
        except DependencyUnavailable as exc:  # the lease ends by itself
            logger.warning("%s", exc)

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    async def _keep(self, lease: Lease) -> None:
        """Renew the lease every third of its length while the call runs."""
        while True:
            await asyncio.sleep(self._lease_ms / 3000)
            try:
                with self._translate("renew a tool-call slot"):
                    kept = await self._renew(keys=[lease.key], args=[lease.holder, self._lease_ms])
            except DependencyUnavailable as exc:
                logger.warning("%s", exc)
                continue
            if not int(kept):
                logger.warning("a tool-call slot's lease ended before the call did")
                return

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        from redis.exceptions import RedisError

        try:
            yield
        except (RedisError, OSError) as exc:
            reason = (str(exc).strip() or type(exc).__name__).splitlines()[0][:200]
            raise DependencyUnavailable(
                f"rate limits: redis at {self.location}: could not {what}: {reason}"
            ) from None

"""Sessions on a shared Redis: a session started by one process continues in another.

Keys, under ``prefix`` (``va:sessions``):

- ``{prefix}:s:{id}``: a hash, the session's description; its ``turns`` field
  is the session's turn counter;
- ``{prefix}:t:{id}``: a list of the turns' JSON records, in ``seq`` order
  (the record at index ``i`` has ``seq`` ``i + 1``);
- ``{prefix}:k:{id}``: a hash ``turn_id -> seq``, so a retried append finds
  its turn instead of storing it twice;
- ``{prefix}:index``: a sorted set of session ids scored by last update;
- ``{prefix}:room:{room}``: the ids of a room's sessions (one per participant),
  so an agent joining the room finds its conversation without reading every
  session; its expiry is renewed whenever one of them is opened, and ids whose
  session expired (or was deleted) are dropped when it is read.

An append is one Lua script, so Redis runs it whole, never interleaved with
another process's: check the ``turn_id``, ``HINCRBY`` the counter, ``RPUSH``
the record stamped with that ``seq``, note the id, touch the index, renew
the keys' expiry. Two processes appending at once therefore get consecutive
numbers, and the list never holds a gap or a repeat.

Timeouts are short (a healthy Redis answers in well under a millisecond) and
every failure is a :class:`~voice_agent_cli.errors.SessionStoreUnavailable`
whose message masks the URL's password. One Redis (or a primary with
replicas); a Redis Cluster is not supported (the index spans sessions).
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

from voice_agent_cli.errors import SessionNotFound, SessionStoreUnavailable
from voice_agent_cli.masking import mask_url
from voice_agent_cli.sessions.model import SessionInfo, SessionKind, SessionTurn
from voice_agent_cli.shared_redis import async_redis

if TYPE_CHECKING:
    from redis.asyncio import Redis

CONNECT_TIMEOUT_S = 1.0
COMMAND_TIMEOUT_S = 2.0

# KEYS: meta, turns, ids, index, room. ARGV: id, fields (JSON), now, ttl_s, room name.
_OPEN = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  local fields = cjson.decode(ARGV[2])
  for name, value in pairs(fields) do
    redis.call('HSET', KEYS[1], name, value)
  end
  redis.call('HSET', KEYS[1], 'turns', 0)
  redis.call('ZADD', KEYS[4], ARGV[3], ARGV[1])
end
if tonumber(ARGV[4]) > 0 then
  redis.call('EXPIRE', KEYS[1], ARGV[4])
end
if ARGV[5] ~= '' then
  redis.call('SADD', KEYS[5], ARGV[1])
  if tonumber(ARGV[4]) > 0 then
    redis.call('EXPIRE', KEYS[5], ARGV[4])
  end
end
return redis.call('HGETALL', KEYS[1])
"""

# KEYS: meta, turns, ids, index. ARGV: id, turn_id, record, at, llm, title, ttl_s.
# Returns {seq, 1} for a new turn, {seq, 0} for one appended before, or an error.
_APPEND = """
if redis.call('EXISTS', KEYS[1]) == 0 then
  return redis.error_reply('NOSESSION')
end
local seen = redis.call('HGET', KEYS[3], ARGV[2])
if seen then
  return {tonumber(seen), 0}
end
local seq = redis.call('HINCRBY', KEYS[1], 'turns', 1)
redis.call('RPUSH', KEYS[2], '{"seq":' .. seq .. ',' .. string.sub(ARGV[3], 2))
redis.call('HSET', KEYS[3], ARGV[2], seq)
local updated = tonumber(redis.call('HGET', KEYS[1], 'updated_at') or '0')
if tonumber(ARGV[4]) > updated then
  redis.call('HSET', KEYS[1], 'updated_at', ARGV[4])
  redis.call('ZADD', KEYS[4], ARGV[4], ARGV[1])
end
if ARGV[5] ~= '' then
  redis.call('HSET', KEYS[1], 'llm', ARGV[5])
end
if ARGV[6] ~= '' then
  redis.call('HSETNX', KEYS[1], 'title', ARGV[6])
end
local ttl = tonumber(ARGV[7])
if ttl > 0 then
  redis.call('EXPIRE', KEYS[1], ttl)
  redis.call('EXPIRE', KEYS[2], ttl)
  redis.call('EXPIRE', KEYS[3], ttl)
end
return {seq, 1}
"""


class RedisSessionStore:
    """A :class:`~voice_agent_cli.sessions.store.SessionStore` on Redis (redis-py asyncio)."""

    backend = "redis"

    def __init__(
        self, url: str, *, prefix: str = "va:sessions", expire_after_days: float = 0.0
    ) -> None:
        self.location = mask_url(url)
        self._prefix = prefix
        self._index = f"{prefix}:index"
        self._ttl_s = round(expire_after_days * 86400)
        try:
            self._client: Redis = async_redis(
                url, connect_timeout_s=CONNECT_TIMEOUT_S, command_timeout_s=COMMAND_TIMEOUT_S
            )
        except ValueError as exc:
            raise SessionStoreUnavailable(f"bad Redis URL {self.location}: {exc}") from None
        self._open = self._client.register_script(_OPEN)
        self._append = self._client.register_script(_APPEND)

    # -- the interface --------------------------------------------------------------

    async def open(self, info: SessionInfo) -> SessionInfo:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""
        # Strings only: Lua would print floats with 14 digits.
        fields = {
            name: str(value)
            for name, value in info.as_json().items()
            if value is not None and name != "turns"
        }
        with self._translate("open a session"):
            flat = await self._open(
                keys=[*self._keys(info.id), self._room(info.room or "")],
                args=[info.id, json.dumps(fields), info.updated_at, self._ttl_s, info.room or ""],
            )
        return self._info(_pairs(flat))

    async def get(self, session_id: str) -> SessionInfo | None:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""
        with self._translate("read a session"):
            fields = await self._client.hgetall(self._meta(session_id))
        return self._info({str(name): value for name, value in fields.items()}) if fields else None

    async def find(self, prefix: str) -> list[SessionInfo]:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""
        pattern = "".join(f"\\{c}" if c in "*?[]\\" else c for c in prefix) + "*"
        with self._translate("find sessions"):
            ids = [
                member async for member, _ in self._client.zscan_iter(self._index, match=pattern)
            ]
        return await self._described(ids[:10])

    async def recent(
        self,
        *,
        limit: int | None = None,
        kind: SessionKind | None = None,
        room: str | None = None,
    ) -> list[SessionInfo]:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""
        if room:
            return await self._in_room(room, limit=limit, kind=kind)
        found: list[SessionInfo] = []
        start, page = 0, 200 if kind else max(1, limit or 200)
        while limit is None or len(found) < limit:
            with self._translate("list sessions"):
                ids = [
                    str(member)
                    for member in await self._client.zrevrange(self._index, start, start + page - 1)
                ]
            if not ids:
                break
            start += len(ids)
            found += [info for info in await self._described(ids) if not kind or info.kind == kind]
        return found if limit is None else found[:limit]

    async def append(self, session_id: str, turn: SessionTurn) -> SessionTurn:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""
        args: list[str | float | int] = [
            session_id, turn.turn_id, turn.to_record(), turn.at,
            turn.llm or "", turn.user or "", self._ttl_s,
        ]  # fmt: skip
        try:
            with self._translate("store a turn"):
                seq, _new = await self._append(keys=self._keys(session_id), args=args)
        except SessionNotFound:
            raise SessionNotFound(f"session {session_id} no longer exists") from None
        return turn.with_seq(int(seq))

    async def turns(self, session_id: str, *, last: int | None = None) -> list[SessionTurn]:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""
        start = 0 if last is None else -max(1, last)
        with self._translate("read turns"):
            records = await self._client.lrange(self._turns(session_id), start, -1)
        try:
            return [SessionTurn.from_record(record) for record in records]
        except ValueError as exc:
            raise SessionStoreUnavailable(f"redis at {self.location}: {exc}") from None

    async def delete(self, session_ids: Sequence[str]) -> int:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""
        if not session_ids:
            return 0
        with self._translate("delete sessions"):
            async with self._client.pipeline(transaction=True) as pipe:
                for session_id in session_ids:
                    pipe.unlink(self._meta(session_id))
                    pipe.unlink(self._turns(session_id), self._ids(session_id))
                pipe.zrem(self._index, *session_ids)
                results = await pipe.execute()
        return sum(int(count) for count in results[0:-1:2])

    async def aclose(self) -> None:
        """Close the connection pool."""
        await self._client.aclose()

    # -- plumbing -------------------------------------------------------------------

    async def _in_room(
        self, room: str, *, limit: int | None, kind: SessionKind | None
    ) -> list[SessionInfo]:
        """A room's sessions from its own set (the sessions that expired leave it)."""
        with self._translate("list a room's sessions"):
            ids = sorted(str(member) for member in await self._client.smembers(self._room(room)))
        described = await self._described(ids)
        gone = set(ids) - {info.id for info in described}
        if gone:
            with self._translate("list a room's sessions"):
                await self._client.srem(self._room(room), *gone)
        found = sorted(
            (info for info in described if not kind or info.kind == kind),
            key=lambda info: (-info.updated_at, info.id),
        )
        return found if limit is None else found[:limit]

    def _room(self, room: str) -> str:
        return f"{self._prefix}:room:{room}"

    def _meta(self, session_id: str) -> str:
        return f"{self._prefix}:s:{session_id}"

    def _turns(self, session_id: str) -> str:
        return f"{self._prefix}:t:{session_id}"

    def _ids(self, session_id: str) -> str:
        return f"{self._prefix}:k:{session_id}"

    def _keys(self, session_id: str) -> list[str]:
        return [
            self._meta(session_id), self._turns(session_id), self._ids(session_id), self._index,
        ]  # fmt: skip

    async def _described(self, ids: Sequence[str]) -> list[SessionInfo]:
        """The sessions with these ids, in order; ids whose session expired leave the index."""
        if not ids:
            return []
        with self._translate("read sessions"):
            async with self._client.pipeline(transaction=False) as pipe:
                for session_id in ids:
                    pipe.hgetall(self._meta(session_id))
                described = await pipe.execute()
            gone = [
                session_id for session_id, fields in zip(ids, described, strict=True) if not fields
            ]
            if gone:
                await self._client.zrem(self._index, *gone)
        return [self._info(fields) for fields in described if fields]

    def _info(self, fields: dict[str, Any]) -> SessionInfo:
        try:
            return SessionInfo.from_json(fields)
        except ValueError as exc:
            raise SessionStoreUnavailable(f"redis at {self.location}: {exc}") from None

    @contextmanager
    def _translate(self, what: str) -> Iterator[None]:
        """redis-py and socket errors become session errors, the password masked."""
        from redis.exceptions import RedisError, ResponseError

        try:
            yield
        except ResponseError as exc:
            if "NOSESSION" in str(exc):
                raise SessionNotFound("the session no longer exists") from None
            raise SessionStoreUnavailable(
                f"redis at {self.location}: could not {what}: {_reason(exc)}"
            ) from None
        except (RedisError, OSError) as exc:
            raise SessionStoreUnavailable(
                f"redis at {self.location}: could not {what}: {_reason(exc)}"
            ) from None


def _pairs(flat: Sequence[Any]) -> dict[str, Any]:
    """HGETALL's reply inside a script is a flat list: name, value, name, value ..."""
    return {str(flat[i]): flat[i + 1] for i in range(0, len(flat) - 1, 2)}


def _reason(exc: BaseException) -> str:
    text = str(exc).strip() or type(exc).__name__
    return text.splitlines()[0][:200]

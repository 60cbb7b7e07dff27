"""The reply cache's semantics, the same on both backends: diskcache and a real redis-server.

Also the Redis-only parts: a shared instance, and a server that goes away mid-run.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.buffer_helpers import FakeClock, exchange, turn
from tests.redis_server import RedisServer, free_port
from voice_agent_cli.buffer import ResponseBuffer
from voice_agent_cli.buffer.disk import open_disk_store
from voice_agent_cli.buffer.redis_store import RedisReplyStore
from voice_agent_cli.buffer.store import ReplyStore
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.errors import CacheUnavailable
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.testing.fake_llm import tool_call


@pytest.fixture(params=["disk", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[ReplyStore]:
    """A fresh store on each backend (Redis: a key prefix of its own)."""
    if request.param == "disk":
        opened: ReplyStore = open_disk_store(tmp_path / "cache")
    else:
        server: RedisServer = request.getfixturevalue("shared_redis")
        opened = RedisReplyStore(server.url, prefix=f"test:{uuid.uuid4().hex[:8]}")
    try:
        yield opened
    finally:
        await opened.aclose()


def make_buffer(store: ReplyStore, clock: FakeClock, **kwargs: object) -> ResponseBuffer:
    return ResponseBuffer(store=store, clock=clock, **kwargs)  # type: ignore[arg-type]


async def ask(buffer: ResponseBuffer, text: str, answer: str | None = None) -> str | None:
    """Look up ``text``; on a miss store ``answer`` the way the agent would."""
    hit = await buffer.lookup(turn(text))
    if hit is not None:
        return hit.reply
    if answer is not None:
        await buffer.store(turn(text), answer)
    return None


async def test_a_stored_reply_is_found_again(store: ReplyStore) -> None:
    buffer = make_buffer(store, FakeClock())
    assert await ask(buffer, "What is the capital of France?", "Paris.") is None
    assert await ask(buffer, "um, what's the capital of france") == "Paris."
    snapshot = buffer.snapshot()
    assert (snapshot.counters["cache_hits"], snapshot.counters["misses"]) == (1, 1)


async def test_the_least_recently_used_entry_is_evicted_first(store: ReplyStore) -> None:
    buffer = make_buffer(store, FakeClock(), max_entries=3)
    for name in ("alpha", "bravo", "charlie"):
        await ask(buffer, f"Who is agent {name}?", f"{name} is a spy.")
    # A hit counts as a use: alpha becomes the most recent, bravo the least.
    assert await ask(buffer, "Who is agent alpha?") == "alpha is a spy."
    await ask(buffer, "Who is agent delta?", "delta is a spy.")
    assert await store.size() == 3
    assert await ask(buffer, "Who is agent bravo?") is None
    for name in ("alpha", "charlie", "delta"):
        assert await ask(buffer, f"Who is agent {name}?") == f"{name} is a spy."
    assert buffer.snapshot().counters["evictions"] == 1
    listed = [entry.normalized for entry in await store.entries()]
    assert listed == [f"who is agent {n}" for n in ("delta", "charlie", "alpha")]


async def test_listing_does_not_count_as_a_use(store: ReplyStore) -> None:
    buffer = make_buffer(store, FakeClock(), max_entries=2)
    await ask(buffer, "Who is agent alpha?", "a")
    await ask(buffer, "Who is agent bravo?", "b")
    await store.entries()
    await ask(buffer, "Who is agent charlie?", "c")
    assert await ask(buffer, "Who is agent alpha?") is None  # still the LRU one


async def test_each_entry_expires_its_ttl_after_it_was_stored(store: ReplyStore) -> None:
    clock = FakeClock()
    buffer = make_buffer(store, clock, ttl_s=60)
    await ask(buffer, "Who is agent alpha?", "a")
    clock.advance(30)
    await ask(buffer, "Who is agent bravo?", "b")
    clock.advance(29)  # alpha is 59 s old
    assert await ask(buffer, "Who is agent alpha?") == "a"
    clock.advance(2)  # alpha 61 s, bravo 31 s
    assert await ask(buffer, "Who is agent alpha?") is None
    assert await ask(buffer, "Who is agent bravo?") == "b"
    assert buffer.snapshot().counters["expired"] == 1
    assert [entry.normalized for entry in await store.entries()] == ["who is agent bravo"]


async def test_uncacheable_replies_are_not_stored(store: ReplyStore) -> None:
    buffer = make_buffer(store, FakeClock())
    await buffer.store(turn("What's the weather today?"), "Sunny.")
    await buffer.store(turn("What is 2 + 2?", tool_calls=[tool_call("calculator")]), "4")
    await buffer.store(turn("What is the capital of France?"), "   ")
    assert await store.size() == 0
    assert buffer.snapshot().counters["not_cacheable"] == 3


async def test_a_follow_up_is_served_only_in_the_same_conversation(store: ReplyStore) -> None:
    buffer = make_buffer(store, FakeClock())
    france = exchange("What is the capital of France?", "Paris.")
    spain = exchange("What is the capital of Spain?", "Madrid.")
    await buffer.store(turn("How big is it?", history=france), "Paris is 105 km2.")
    hit = await buffer.lookup(turn("How big is it?", history=france))
    assert hit is not None and hit.reply == "Paris is 105 km2."
    assert await buffer.lookup(turn("How big is it?", history=spain)) is None
    assert (await store.entries())[0].uses_history


async def test_statistics_add_up_across_buffers(store: ReplyStore) -> None:
    first = make_buffer(store, FakeClock())
    await ask(first, "Who is agent alpha?", "a")
    await ask(first, "Who is agent alpha?")
    await first.flush_stats()
    second = make_buffer(store, FakeClock())
    await ask(second, "Who is agent alpha?")
    await second.flush_stats()
    counters = await store.read_counters()
    assert counters["lookups"] == 3
    assert counters["cache_hits"] == 2
    assert counters["misses"] == 1
    assert counters["stores"] == 1
    await store.reset_counters()
    assert await store.read_counters() == {}


async def test_clear_forgets_every_entry(store: ReplyStore) -> None:
    buffer = make_buffer(store, FakeClock())
    for name in ("alpha", "bravo"):
        await ask(buffer, f"Who is agent {name}?", name)
    assert await store.clear() == 2
    assert await store.size() == 0
    assert await ask(buffer, "Who is agent alpha?") is None


# -- Redis only ---------------------------------------------------------------------


async def test_redis_keys_of_others_are_left_alone(shared_redis: RedisServer) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(shared_redis.url, decode_responses=True)
    store = RedisReplyStore(shared_redis.url, prefix="va:shared-test")
    try:
        await client.set("someone:else", "keep me")
        buffer = make_buffer(store, FakeClock(), max_entries=1)
        await ask(buffer, "Who is agent alpha?", "a")
        await ask(buffer, "Who is agent bravo?", "b")
        await store.clear()
        assert await client.get("someone:else") == "keep me"
        assert await client.ttl("someone:else") == -1
    finally:
        await client.delete("someone:else")
        await client.aclose()
        await store.aclose()


async def test_a_redis_entry_carries_its_ttl_to_redis(shared_redis: RedisServer) -> None:
    from redis.asyncio import Redis

    client = Redis.from_url(shared_redis.url, decode_responses=True)
    store = RedisReplyStore(shared_redis.url, prefix="va:ttl-test")
    try:
        buffer = make_buffer(store, FakeClock(), ttl_s=120)
        await ask(buffer, "Who is agent alpha?", "a")
        (name,) = [n async for n in client.scan_iter(match="va:ttl-test:e:*")]
        assert 110_000 < await client.pttl(name) <= 120_000
    finally:
        await store.clear()
        await client.aclose()
        await store.aclose()


async def test_redis_going_away_mid_run_falls_back_to_the_llm_with_one_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    server = RedisServer(tmp_path / "redis", port=free_port())
    server.start()
    store = RedisReplyStore(server.url)
    # retry_after_s=0: every turn tries Redis again, and still only one warning is logged.
    buffer = ResponseBuffer(store=store, retry_after_s=0)
    llm = FakeLLM(responder=lambda request: "An answer.")
    agent = Agent(llm, AgentOptions(system_prompt="test"), buffer=buffer)
    try:
        assert (await agent.reply("What is the capital of France?")).source == "llm"
        assert (await agent.reply("What is the capital of France?")).source == "cache"
        server.stop()
        with caplog.at_level(logging.INFO, logger="va.buffer"):
            for question in ("What is the capital of France?", "Who wrote Hamlet?", "Why?"):
                turn_done = await agent.reply(question)
                assert turn_done.source == "llm"
                assert turn_done.reply == "An answer."
        warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
        assert len(warnings) == 1
        message = warnings[0].getMessage()
        assert warnings[0].name == "va.buffer"
        assert "reply cache unavailable" in message and f"127.0.0.1:{server.port}" in message
        assert buffer.snapshot().counters["errors"] >= 3

        server.start()  # same port, empty: the cache works again and says so
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="va.buffer"):
            assert (await agent.reply("Who wrote Hamlet?")).source == "llm"
            assert (await agent.reply("Who wrote Hamlet?")).source == "cache"
        assert any("reply cache is back" in r.getMessage() for r in caplog.records)
        assert not [r for r in caplog.records if r.levelno == logging.WARNING]
    finally:
        await buffer.aclose()
        server.stop()


async def test_a_failed_backend_is_skipped_until_the_retry_time(tmp_path: Path) -> None:
    monotonic = FakeClock(0.0)
    store = RedisReplyStore(f"redis://127.0.0.1:{free_port()}/0")
    buffer = ResponseBuffer(store=store, retry_after_s=30, monotonic=monotonic)
    try:
        assert await ask(buffer, "Who is agent alpha?", "a") is None
        assert buffer.snapshot().counters["errors"] == 1  # lookup failed; store skipped
        monotonic.advance(10)
        assert await ask(buffer, "Who is agent alpha?", "a") is None
        assert buffer.snapshot().counters["errors"] == 1
        monotonic.advance(25)
        assert await ask(buffer, "Who is agent alpha?") is None
        assert buffer.snapshot().counters["errors"] == 2
    finally:
        await buffer.aclose()


async def test_redis_errors_never_show_the_password() -> None:
    port = free_port()
    store = RedisReplyStore(f"redis://user:s3cret-pw@127.0.0.1:{port}/0")
    try:
        assert "s3cret-pw" not in store.location
        with pytest.raises(CacheUnavailable) as caught:
            await store.size()
        assert "s3cret-pw" not in str(caught.value)
        assert "***" in str(caught.value) and str(port) in str(caught.value)
    finally:
        await store.aclose()

"""Rate limits shared through a real redis-server: they hold across OS processes."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import time
import uuid
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, free_port
from voice_agent_cli.config import load_settings
from voice_agent_cli.core.settings import RateLimitSettings
from voice_agent_cli.errors import RateLimited
from voice_agent_cli.ratelimit import RateLimits, limits_redis_url, rate_limits_for

CLIENT = Path(__file__).parent / "workers" / "limits_client.py"


def run_clients(url: str, mode: str, count: int, processes: int, tmp_path: Path) -> list[str]:
    """Start ``processes`` clients at once; every line they printed."""
    go = tmp_path / f"go-{uuid.uuid4().hex[:6]}"
    started = [
        subprocess.Popen(
            [sys.executable, str(CLIENT), url, mode, str(count), str(go)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        for _ in range(processes)
    ]
    time.sleep(0.5)
    go.touch()
    lines = []
    for process in started:
        out, err = process.communicate(timeout=60)
        assert process.returncode == 0, err
        lines += out.splitlines()
    return lines


def test_request_and_expert_limits_hold_across_processes(
    shared_redis: RedisServer, tmp_path: Path
) -> None:
    shared_redis.flushall()
    lines = run_clients(shared_redis.url, "requests", 15, 2, tmp_path)
    # 30 requests against 20/minute, 30 consultations against 6/minute, from two processes
    assert lines.count("request ok") == 20 and lines.count("request refused") == 10
    assert lines.count("expert ok") == 6 and lines.count("expert refused") == 24


def test_concurrent_tool_calls_hold_across_processes(
    shared_redis: RedisServer, tmp_path: Path
) -> None:
    shared_redis.flushall()
    lines = run_clients(shared_redis.url, "slots", 4, 2, tmp_path)
    calls = [tuple(map(float, line.split())) for line in lines]
    assert len(calls) == 8
    # at no moment did more than 3 calls of alice run, across both processes
    events = sorted([(start, 1) for start, _ in calls] + [(end, -1) for _, end in calls])
    running, most = 0, 0
    for _, change in events:
        running += change
        most = max(most, running)
    assert most == 3


async def test_a_refusal_in_one_process_is_seen_by_another(shared_redis: RedisServer) -> None:
    settings = RateLimitSettings(per_user="2/hour", redis_prefix=f"t{uuid.uuid4().hex[:6]}")
    first = RateLimits(settings, redis_url=shared_redis.url)
    second = RateLimits(settings, redis_url=shared_redis.url)
    try:
        first.check_request("bob")
        second.check_request("bob")
        with pytest.raises(RateLimited, match=r"2/hour per user\): try again in \d+ s"):
            first.check_request("bob")
        RateLimits(settings).check_request("bob")  # a process counting alone does not know
    finally:
        await first.aclose()
        await second.aclose()


async def test_a_slot_of_a_process_that_died_comes_back_when_its_lease_ends(
    shared_redis: RedisServer,
) -> None:
    from voice_agent_cli.ratelimit_slots import RedisToolSlots

    prefix = f"t{uuid.uuid4().hex[:6]}"
    dead = RedisToolSlots(shared_redis.url, prefix=prefix, limit=1, lease_s=0.3)
    alive = RedisToolSlots(shared_redis.url, prefix=prefix, limit=1, lease_s=0.3)
    try:
        lease = await dead.acquire("carol")
        assert lease.renewal is not None
        lease.renewal.cancel()  # the holder stops renewing, as a killed process would
        started = time.monotonic()
        second = await alive.acquire("carol")
        assert time.monotonic() - started >= 0.2  # it had to wait for the lease to end
        await alive.release(second)
    finally:
        await dead.aclose()
        await alive.aclose()


async def test_while_redis_is_down_each_process_counts_alone(
    caplog: pytest.LogCaptureFixture,
) -> None:
    url = f"redis://:pw@127.0.0.1:{free_port()}/0"
    limits = RateLimits(RateLimitSettings(per_user="2/hour", retry_after_s=60), redis_url=url)
    try:
        with caplog.at_level(logging.WARNING, logger="va.ratelimit"):
            limits.check_request("dave")
            limits.check_request("dave")
            with pytest.raises(RateLimited):
                limits.check_request("dave")
            async with limits.tool_call_slot("dave"):
                pass
        warnings = [r.getMessage() for r in caplog.records]
        assert len(warnings) == 1  # once, then Redis is left alone for retry_after_s
        assert "counting in this process for 60 s" in warnings[0] and "pw@" not in warnings[0]
    finally:
        await limits.aclose()


def test_the_profile_says_where_the_counts_live(tmp_path: Path) -> None:
    shared = tmp_path / "shared.toml"
    shared.write_text('[cache]\nbackend = "redis"\nredis_url = "redis://r:6379/0"\n')
    assert limits_redis_url(load_settings(shared, environ={}).profile) == "redis://r:6379/0"
    alone = tmp_path / "alone.toml"
    alone.write_text(
        '[cache]\nbackend = "redis"\nredis_url = "redis://r:6379/0"\n'
        '[rate_limits]\nstorage = "memory"\n'
    )
    assert limits_redis_url(load_settings(alone, environ={}).profile) is None
    own = tmp_path / "own.toml"
    own.write_text('[rate_limits]\nredis_url = "redis://limits:6379/1"\n')
    assert limits_redis_url(load_settings(own, environ={}).profile) == "redis://limits:6379/1"
    assert limits_redis_url(load_settings(None, environ={}).profile) is None
    assert not rate_limits_for(load_settings(None, environ={}).profile).shared

"""``va serve`` as a user runs it: real processes registering with the fake dispatcher.

Each worker is the installed ``va serve`` script in its own process; the
dispatcher speaks the real protocol messages over a real websocket. The rooms
cannot be joined here (no LiveKit server): the dispatcher's ``/rtc`` either
refuses them (the job fails at once, one log line says why) or, with
``hold_rooms``, leaves the connection unanswered, so each job holds its slot
while it joins, as with a slow room server. Joining a room for real, through
the same code, is tested in-process against the fake room
(tests/test_cli_serve_rooms.py).
"""

from __future__ import annotations

import asyncio
import os
import signal
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest

from tests.cli_helpers import VA, run_va_process
from tests.redis_server import free_port
from tests.serve_helpers import API_KEY, API_SECRET, WorkerFleet, WorkerProcess, kill_the_owner
from voice_agent_cli.testing.fake_dispatcher import FakeDispatcher

CREDENTIALS = {"LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET}


@pytest.fixture
async def dispatcher() -> AsyncIterator[FakeDispatcher]:
    async with FakeDispatcher(API_KEY, API_SECRET, hold_rooms=True) as server:
        yield server


@pytest.fixture
async def spawn(dispatcher: FakeDispatcher) -> AsyncIterator[Callable[..., Any]]:
    fleet = WorkerFleet(dispatcher)
    env = {
        **os.environ,
        **CREDENTIALS,
        "LIVEKIT_URL": dispatcher.url,
        # A room join that is never answered holds its job this long.
        "VA_LIVEKIT__CONNECT_TIMEOUT_S": "60",
        "VA_SERVE__STATUS_INTERVAL_S": "0.5",
    }

    async def start(count: int, *args: str) -> list[WorkerProcess]:
        # The CPU is shared with other tests: never decline for it here
        # (declining by CPU is tested in-process with a given load).
        argv = [VA, "serve", "--load-threshold", "1", *args]
        return await fleet.start(count, argv, env, stderr=asyncio.subprocess.PIPE)

    yield start
    await fleet.aclose()


@pytest.mark.slow
async def test_several_va_serve_processes_share_the_rooms_and_refuse_past_capacity(
    dispatcher: FakeDispatcher, spawn: Callable[..., Any]
) -> None:
    workers = await spawn(3, "--max-jobs", "2")
    placed = [await dispatcher.dispatch(f"room-{n}") for n in range(6)]
    per_worker = {w.worker_id: 0 for w in workers}
    for job in placed:
        assert job is not None
        per_worker[job.worker_id] += 1
        await dispatcher.wait_for_status(job.job_id, "running")
    assert sorted(per_worker.values()) == [2, 2, 2]  # nobody over capacity, nobody idle
    dispatcher.trust_status = False  # offer the 7th to every worker, whatever they reported
    assert await dispatcher.dispatch("room-7") is None
    seventh = next(job for job in dispatcher.jobs if job not in {p.job_id for p in placed if p})
    refusals = dispatcher.offers_for(seventh)
    assert len(refusals) == 3 and not any(offer.available for offer in refusals)
    # (an offer may also have reached a worker whose last report was older than its jobs)
    declined = [e for w in workers for e in w.of_type("job_offered") if not e["accepted"]]
    assert {e["reason"] for e in declined} == {"at capacity (2 of 2 jobs)"}
    # Every accepted job went on to join its room, as the server's token says.
    await dispatcher.wait_for(lambda: dispatcher.room_attempts == 6, what="six room joins")
    for worker in workers:
        joining = [e for e in worker.events if e["type"] == "room" and e["event"] == "connection"]
        assert len(joining) == 2 and {e["state"] for e in joining} == {"connecting"}


@pytest.mark.slow
async def test_a_killed_va_serve_loses_its_room_to_another_then_a_drain_exits_0(
    dispatcher: FakeDispatcher, spawn: Callable[..., Any]
) -> None:
    workers = await spawn(2, "--max-jobs", "2")
    placed, survivor, _ = await kill_the_owner(dispatcher, workers, "fragile")
    await survivor.wait_for(lambda e: e["type"] == "room" and e["job"] == placed.job_id)

    [connection] = dispatcher.workers.values()
    survivor.process.send_signal(signal.SIGTERM)
    assert await survivor.exit_code() == 0
    assert connection.draining and connection.close_code == 1000
    # Left its room (still joining) and said so: the job ended well, on the survivor.
    assert dispatcher.jobs[placed.job_id].statuses == ["running", "running", "success"]
    assert survivor.events[-1]["type"] == "stopped"


@pytest.mark.slow
async def test_a_room_that_cannot_be_joined_fails_only_its_job(
    dispatcher: FakeDispatcher, spawn: Callable[..., Any]
) -> None:
    dispatcher.hold_rooms = False  # the room server refuses at once
    [worker] = await spawn(1)
    placed = await dispatcher.dispatch("nowhere")
    assert placed is not None
    await dispatcher.wait_for_status(placed.job_id, "failed")
    [error] = dispatcher.jobs[placed.job_id].errors
    assert "no such room" in error
    assert await dispatcher.dispatch("next") is not None  # the worker goes on serving
    worker.process.send_signal(signal.SIGINT)
    assert await worker.exit_code() == 0
    assert worker.process.stderr is not None
    logged = (await worker.process.stderr.read()).decode()
    assert f"job {placed.job_id} (room nowhere) failed: " in logged
    assert "Traceback" not in logged and API_SECRET not in logged


def test_an_unreachable_server_is_one_line_and_exit_3() -> None:
    env = {**CREDENTIALS, "LIVEKIT_URL": f"ws://127.0.0.1:{free_port()}"}
    result = run_va_process("serve", env=env, timeout=60)
    assert result.returncode == 3 and result.stdout == ""
    [line] = result.stderr.strip().splitlines()
    assert line.startswith("va: cannot reach the LiveKit server at ws://127.0.0.1:")


async def test_a_refused_key_is_one_line_and_exit_2(dispatcher: FakeDispatcher) -> None:
    env = {
        **os.environ,
        "LIVEKIT_URL": dispatcher.url,
        "LIVEKIT_API_KEY": API_KEY,
        "LIVEKIT_API_SECRET": "not-the-secret-but-long-enough-0123456789",
    }
    process = await asyncio.create_subprocess_exec(
        VA, "serve", stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE, env=env
    )
    out, err = await asyncio.wait_for(process.communicate(), 60)
    assert process.returncode == 2 and out == b""
    [line] = err.decode().strip().splitlines()
    assert "refused the worker's token (HTTP 401)" in line


def test_missing_settings_are_usage_errors() -> None:
    result = run_va_process("serve", env={"LIVEKIT_URL": ""}, timeout=60)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "va: no LiveKit server URL: set LIVEKIT_URL (e.g. ws://localhost:7880) or pass --url"
    ]

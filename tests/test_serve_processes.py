"""Several real ``va serve`` worker processes against the fake dispatcher.

Each worker is an OS process (tests/workers/serve_worker.py: the real Worker,
jobs that hold their slot without joining a room). The dispatcher speaks the
real protocol messages over a real websocket; these tests check what the
issue asks of a fleet: jobs balanced by capacity, offers refused past it, a
killed worker's job offered again, and a clean drain on SIGTERM/SIGINT.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest

from tests.serve_helpers import API_KEY, API_SECRET, WorkerFleet, WorkerProcess, kill_the_owner
from voice_agent_cli.testing.fake_dispatcher import FakeDispatcher

WORKER = Path(__file__).parent / "workers" / "serve_worker.py"


@pytest.fixture
async def dispatcher() -> AsyncIterator[FakeDispatcher]:
    async with FakeDispatcher(API_KEY, API_SECRET) as server:
        yield server


@pytest.fixture
async def spawn(dispatcher: FakeDispatcher) -> AsyncIterator[Callable[..., Any]]:
    fleet = WorkerFleet(dispatcher)
    env = {
        **os.environ, "PYTHONPATH": os.getcwd(),
        "LIVEKIT_API_KEY": API_KEY, "LIVEKIT_API_SECRET": API_SECRET,
    }  # fmt: skip

    async def start(
        count: int, *, agent_name: str = "", max_jobs: int = 2, turn_s: float = 0.0
    ) -> list[WorkerProcess]:
        argv = [sys.executable, str(WORKER), dispatcher.url, agent_name, str(max_jobs), str(turn_s)]
        return await fleet.start(count, argv, env)

    yield start
    await fleet.aclose()


async def test_jobs_are_spread_by_capacity_and_by_agent_name(
    dispatcher: FakeDispatcher, spawn: Callable[..., Any]
) -> None:
    automatic = await spawn(3, max_jobs=2)
    [named] = await spawn(1, agent_name="support", max_jobs=2)
    placed = [await dispatcher.dispatch(f"room-{n}") for n in range(6)]
    assert all(placed)
    per_worker = {w.worker_id: 0 for w in automatic}
    for job in placed:
        assert job is not None
        per_worker[job.worker_id] += 1
    assert sorted(per_worker.values()) == [2, 2, 2]  # nobody over capacity, nobody idle
    assert await dispatcher.dispatch("room-7") is None  # every automatic worker is full
    support = [await dispatcher.dispatch(f"help-{n}", "support") for n in range(2)]
    assert all(job is not None and job.worker_id == named.worker_id for job in support)
    assert await dispatcher.dispatch("help-3", "support") is None
    for job in [*placed, *support]:
        assert job is not None
        await dispatcher.wait_for_status(job.job_id, "running")
    assert named.of_type("job_offered") and all(
        e["job"]["agent_name"] == "support" for e in named.of_type("job_offered")
    )


async def test_a_full_worker_refuses_offers_it_cannot_take(
    dispatcher: FakeDispatcher, spawn: Callable[..., Any]
) -> None:
    dispatcher.trust_status = False  # offer to every worker, whatever status it reported
    workers = await spawn(2, max_jobs=1)
    first = await dispatcher.dispatch("a")
    second = await dispatcher.dispatch("b")
    assert first is not None and second is not None and first.worker_id != second.worker_id
    assert await dispatcher.dispatch("c") is None
    third = next(job for job in dispatcher.jobs if job not in (first.job_id, second.job_id))
    refusals = dispatcher.offers_for(third)
    assert len(refusals) == 2 and not any(offer.available for offer in refusals)
    for worker in workers:  # each declined "c" (and maybe "b", if offered it first)
        # The refusal reaches the dispatcher before the worker's own line is read.
        await worker.wait_for(lambda e: e["type"] == "job_offered" and not e["accepted"])
        declined = [e for e in worker.of_type("job_offered") if not e["accepted"]]
        assert declined and {e["reason"] for e in declined} == {"at capacity (1 of 1 jobs)"}


async def test_a_job_whose_worker_is_killed_is_offered_again(
    dispatcher: FakeDispatcher, spawn: Callable[..., Any]
) -> None:
    workers = await spawn(2, max_jobs=2)
    placed, survivor, resumed = await kill_the_owner(dispatcher, workers, "fragile")
    record = dispatcher.jobs[placed.job_id]
    await dispatcher.wait_for(
        lambda: record.statuses == ["running", "running"], what="running again"
    )
    assert record.worker_id == survivor.worker_id and record.assignments == 2
    [first, again] = dispatcher.offers_for(placed.job_id)
    assert (first.resuming, again.resuming, again.worker_id) == (False, True, survivor.worker_id)
    # the same identity in the room, so the dead worker's participant is replaced, not doubled
    assert resumed["job"]["identity"] == f"va-agent-{placed.job_id}"


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
async def test_a_signal_drains_the_worker_and_it_exits_0(
    dispatcher: FakeDispatcher, spawn: Callable[..., Any], signum: signal.Signals
) -> None:
    [worker] = await spawn(1, max_jobs=2, turn_s=1.0)
    jobs = [await dispatcher.dispatch(f"room-{n}") for n in range(2)]
    for job in jobs:
        assert job is not None
        await dispatcher.wait_for_status(job.job_id, "running")
    [connection] = dispatcher.workers.values()
    worker.process.send_signal(signum)
    await dispatcher.wait_for(lambda: connection.draining, what="a draining report")
    assert connection.status == "full"
    dispatcher.trust_status = False
    assert await dispatcher.dispatch("too-late") is None  # declined while the turns finish
    assert await worker.exit_code() == 0
    for job in jobs:
        assert job is not None
        assert dispatcher.jobs[job.job_id].statuses == ["running", "success"]
    assert connection.close_code == 1000  # a clean close, after the last statuses
    assert [e["type"] for e in worker.events[-1:]] == ["stopped"]
    assert worker.of_type("draining")[0]["jobs"] == 2


async def test_a_second_signal_ends_the_jobs_at_once(
    dispatcher: FakeDispatcher, spawn: Callable[..., Any]
) -> None:
    [worker] = await spawn(1, max_jobs=1, turn_s=60.0)
    job = await dispatcher.dispatch("long-turn")
    assert job is not None
    await dispatcher.wait_for_status(job.job_id, "running")
    [connection] = dispatcher.workers.values()
    worker.process.send_signal(signal.SIGTERM)
    await dispatcher.wait_for(lambda: connection.draining, what="a draining report")
    worker.process.send_signal(signal.SIGTERM)
    assert await worker.exit_code(within_s=10) == 130
    assert dispatcher.jobs[job.job_id].statuses == ["running", "failed"]
    assert dispatcher.jobs[job.job_id].errors == ["stopped: the worker was shut down"]


async def test_the_open_source_server_does_not_offer_a_dead_workers_job_again(
    dispatcher: FakeDispatcher, spawn: Callable[..., Any]
) -> None:
    dispatcher.reoffer_on_failure = False
    workers = await spawn(2, max_jobs=2)
    placed = await dispatcher.dispatch("fragile")
    assert placed is not None
    await dispatcher.wait_for_status(placed.job_id, "running")
    owner = next(w for w in workers if w.worker_id == placed.worker_id)
    owner.process.kill()
    await dispatcher.wait_for(lambda: len(dispatcher.workers) == 1, what="the death noticed")
    await asyncio.sleep(0.5)
    assert len(dispatcher.offers_for(placed.job_id)) == 1
    assert dispatcher.jobs[placed.job_id].statuses == ["running"]

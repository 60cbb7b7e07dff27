"""The ``va serve`` worker against the fake dispatcher, in one process: the protocol in detail.

Several real worker processes are in tests/test_serve_processes.py.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from livekit import api
from livekit.protocol import agent

from tests.redis_server import free_port
from tests.serve_helpers import API_KEY, API_SECRET, HeldJobs
from voice_agent_cli.errors import RoomAuthError, RoomUnavailable
from voice_agent_cli.rooms.worker import ServeSettings, Worker
from voice_agent_cli.rooms.worker.events import WorkerEvent, event_json
from voice_agent_cli.rooms.worker.protocol import agent_url
from voice_agent_cli.testing.fake_dispatcher import FakeDispatcher

FAST = {"status_interval_s": 0.2, "reconnect_base_s": 0.05, "reconnect_max_s": 0.2}


@pytest.fixture
async def dispatcher() -> AsyncIterator[FakeDispatcher]:
    async with FakeDispatcher(API_KEY, API_SECRET) as server:
        yield server


class Running:
    """A worker running in a task, with the events it emitted."""

    def __init__(self, worker: Worker, events: list[WorkerEvent]) -> None:
        self.worker = worker
        self.events = events
        self.task = asyncio.create_task(worker.run(), name="test-worker")

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [event_json(e) for e in self.events if e.type == kind]

    async def stop(self) -> None:
        if not self.task.done():
            self.worker.force_stop()
        await asyncio.wait_for(self.task, 10)


@pytest.fixture
async def start(dispatcher: FakeDispatcher) -> AsyncIterator[Callable[..., Running]]:
    started: list[Running] = []

    def start_worker(handler: HeldJobs, cpu: float = 0.0, **settings: Any) -> Running:
        events: list[WorkerEvent] = []
        worker = Worker(
            url=dispatcher.url,
            api_key=API_KEY,
            api_secret=API_SECRET,
            run_job=handler,
            settings=ServeSettings(**{**FAST, **settings}),
            cpu_load=lambda: cpu,
            on_event=events.append,
        )
        running = Running(worker, events)
        started.append(running)
        return running

    yield start_worker
    for running in started:
        await running.stop()


def test_the_agent_endpoint_keeps_a_path_and_uses_websocket_schemes() -> None:
    assert agent_url("ws://localhost:7880") == "ws://localhost:7880/agent"
    assert agent_url("https://x.livekit.cloud/") == "wss://x.livekit.cloud/agent"
    assert agent_url("http://proxy/livekit") == "ws://proxy/livekit/agent"


async def test_a_worker_registers_and_runs_a_dispatched_job(
    dispatcher: FakeDispatcher, start: Callable[..., Running]
) -> None:
    held = HeldJobs()
    running = start(held, agent_name="concierge")
    await dispatcher.wait_for_workers(1)
    [connection] = dispatcher.workers.values()
    assert connection.agent_name == "concierge"
    assert connection.registration.type == agent.JT_ROOM
    assert connection.registration.allowed_permissions.agent
    assert connection.registration.version.startswith("va ")
    assert await dispatcher.dispatch("lobby") is None  # automatic dispatch: not for a named worker
    placed = await dispatcher.dispatch("lobby", "concierge", metadata='{"lang": "en"}')
    assert placed is not None and placed.worker_id == connection.id
    await dispatcher.wait_for_status(placed.job_id, "running")
    job, url, token = held.started[0]
    assert (job.room, job.agent_name, job.metadata, job.resuming) == (
        "lobby", "concierge", '{"lang": "en"}', False,
    )  # fmt: skip
    assert url == dispatcher.url
    claims = api.TokenVerifier(API_KEY, API_SECRET).verify(token)
    assert claims.identity == f"va-agent-{placed.job_id}" == job.identity
    assert claims.video is not None and claims.video.room == "lobby" and claims.video.room_join
    assert claims.kind == "agent" and claims.attributes["lk.agent.name"] == "concierge"
    # the server ends the job: the handler is told, leaves, and the job succeeds
    await dispatcher.terminate(placed.job_id)
    await dispatcher.wait_for_status(placed.job_id, "success")
    assert held.stopped == [(placed.job_id, "terminated")]
    assert [e["type"] for e in running.of_type("job_ended")] == ["job_ended"]


async def test_status_reports_always_carry_a_status_and_the_load(
    dispatcher: FakeDispatcher, start: Callable[..., Running]
) -> None:
    start(HeldJobs(), cpu=0.1, max_jobs=2)
    await dispatcher.wait_for_workers(1)
    [connection] = dispatcher.workers.values()
    placed = await dispatcher.dispatch("room-1")
    assert placed is not None
    await dispatcher.wait_for(lambda: connection.job_count == 1, what="a report of one job")
    assert connection.status == "available" and connection.load == pytest.approx(0.5)
    await dispatcher.dispatch("room-2")
    await dispatcher.wait_for(lambda: connection.job_count == 2, what="a report of two jobs")
    assert connection.status == "full" and connection.load == pytest.approx(1.0)
    assert all(update.HasField("status") for update in connection.updates)
    ticks = len(connection.updates)
    await dispatcher.wait_for(lambda: len(connection.updates) >= ticks + 2, what="periodic reports")


async def test_a_worker_at_capacity_declines_and_the_next_one_gets_the_job(
    dispatcher: FakeDispatcher, start: Callable[..., Running]
) -> None:
    dispatcher.trust_status = False  # offer to full workers too: their own refusal is tested
    workers = [start(HeldJobs(), max_jobs=1) for _ in range(2)]
    await dispatcher.wait_for_workers(2)
    one = await dispatcher.dispatch("a")
    two = await dispatcher.dispatch("b")
    assert one is not None and two is not None and one.worker_id != two.worker_id
    assert await dispatcher.dispatch("c") is None
    third = [job_id for job_id in dispatcher.jobs if job_id not in (one.job_id, two.job_id)]
    offers = dispatcher.offers_for(third[0])
    assert sorted(offer.worker_id for offer in offers) == sorted(dispatcher.workers)
    assert all(offer.available is False for offer in offers)
    reasons = {e["reason"] for w in workers for e in w.of_type("job_offered") if not e["accepted"]}
    assert reasons == {"at capacity (1 of 1 jobs)"}


async def test_a_busy_cpu_declines_offers(
    dispatcher: FakeDispatcher, start: Callable[..., Running]
) -> None:
    dispatcher.trust_status = False
    running = start(HeldJobs(), cpu=0.93, load_threshold=0.8)
    await dispatcher.wait_for_workers(1)
    assert await dispatcher.dispatch("hot") is None
    [offer] = running.of_type("job_offered")
    assert offer["accepted"] is False and offer["reason"] == "CPU at 93% (above 80%)"
    [connection] = dispatcher.workers.values()
    await dispatcher.wait_for(lambda: connection.status == "full", what="a full status")


async def test_a_failing_job_is_reported_failed_with_its_error_redacted(
    dispatcher: FakeDispatcher, start: Callable[..., Running]
) -> None:
    start(HeldJobs(fail_with=f"room refused the token, secret {API_SECRET}"))
    await dispatcher.wait_for_workers(1)
    placed = await dispatcher.dispatch("broken")
    assert placed is not None
    await dispatcher.wait_for_status(placed.job_id, "failed")
    [error] = dispatcher.jobs[placed.job_id].errors
    assert error.startswith("room refused the token") and API_SECRET not in error


async def test_a_job_that_ignores_its_termination_is_cancelled(
    dispatcher: FakeDispatcher, start: Callable[..., Running]
) -> None:
    start(HeldJobs(stubborn=True), stop_timeout_s=0.2)
    await dispatcher.wait_for_workers(1)
    placed = await dispatcher.dispatch("sticky")
    assert placed is not None
    await dispatcher.wait_for_status(placed.job_id, "running")
    await dispatcher.terminate(placed.job_id)
    await dispatcher.wait_for_status(placed.job_id, "success")


async def test_a_drain_declines_new_jobs_lets_turns_finish_and_closes_cleanly(
    dispatcher: FakeDispatcher, start: Callable[..., Running]
) -> None:
    held = HeldJobs(turn_s=0.3)
    running = start(held)
    await dispatcher.wait_for_workers(1)
    [connection] = dispatcher.workers.values()
    placed = await dispatcher.dispatch("busy")
    assert placed is not None
    await dispatcher.wait_for_status(placed.job_id, "running")
    running.worker.request_drain()
    await dispatcher.wait_for(lambda: connection.draining, what="a draining report")
    assert connection.status == "full"
    dispatcher.trust_status = False
    assert await dispatcher.dispatch("late") is None  # declined: draining
    await asyncio.wait_for(running.task, 10)
    assert held.stopped == [(placed.job_id, "draining")]
    assert dispatcher.jobs[placed.job_id].statuses == ["running", "success"]  # sent before closing
    await asyncio.wait_for(connection.closed.wait(), 5)
    assert connection.close_code == 1000
    assert running.events[-1].type == "stopped"


async def test_a_drain_that_times_out_fails_the_job_that_would_not_end(
    dispatcher: FakeDispatcher, start: Callable[..., Running]
) -> None:
    running = start(HeldJobs(stubborn=True), drain_timeout_s=0.3)
    await dispatcher.wait_for_workers(1)
    placed = await dispatcher.dispatch("forever")
    assert placed is not None
    await dispatcher.wait_for_status(placed.job_id, "running")
    running.worker.request_drain()
    await asyncio.wait_for(running.task, 10)
    assert dispatcher.jobs[placed.job_id].statuses == ["running", "failed"]
    assert dispatcher.jobs[placed.job_id].errors == ["stopped: the drain timed out"]


async def test_a_lost_connection_is_reestablished_and_the_jobs_go_on(
    dispatcher: FakeDispatcher, start: Callable[..., Running]
) -> None:
    dispatcher.reoffer_on_failure = False  # the open-source server: it does not re-dispatch
    held = HeldJobs()
    running = start(held)
    await dispatcher.wait_for_workers(1)
    [first_id] = dispatcher.workers
    placed = await dispatcher.dispatch("steady")
    assert placed is not None
    await dispatcher.wait_for_status(placed.job_id, "running")
    await dispatcher.drop(first_id)
    await dispatcher.wait_for(
        lambda: len(dispatcher.workers) == 1 and first_id not in dispatcher.workers,
        what="a new registration",
    )
    [again] = dispatcher.workers.values()
    await dispatcher.wait_for(lambda: again.migrated == [placed.job_id], what="the migration")
    assert running.worker.worker_id == again.id
    [lost] = running.of_type("connection_lost")
    assert lost["attempt"] == 1 and lost["delay_s"] <= 0.2
    assert len(running.of_type("registered")) == 2
    assert held.stopped == []  # the job never noticed
    await dispatcher.terminate(placed.job_id)  # and it is still the new connection's job
    await dispatcher.wait_for_status(placed.job_id, "success")


async def test_wrong_keys_fail_at_once_with_a_clear_error(dispatcher: FakeDispatcher) -> None:
    worker = Worker(
        url=dispatcher.url, api_key=API_KEY, api_secret="another-secret-of-32-bytes-or-more!",
        run_job=HeldJobs(), cpu_load=lambda: 0.0,
    )  # fmt: skip
    with pytest.raises(RoomAuthError, match=r"refused the worker's token \(HTTP 401\)"):
        await asyncio.wait_for(worker.run(), 10)
    assert dispatcher.rejected_connections == 1


async def test_an_unreachable_server_fails_at_once() -> None:
    worker = Worker(
        url=f"ws://127.0.0.1:{free_port()}", api_key=API_KEY, api_secret=API_SECRET,
        run_job=HeldJobs(), cpu_load=lambda: 0.0,
    )  # fmt: skip
    with pytest.raises(
        RoomUnavailable, match=r"cannot reach the LiveKit server at ws://127\.0\.0\.1"
    ):
        await asyncio.wait_for(worker.run(), 10)

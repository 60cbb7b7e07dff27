"""A LiveKit server's agent dispatch, without the server: the real protocol on a real websocket.

No LiveKit server runs in our tests, so ``va serve`` workers register with
:class:`FakeDispatcher` instead: an aiohttp server on ``/agent`` that speaks
the same protobuf messages as livekit-server's agent service
(``livekit.protocol.agent``), checks the worker's token the same way (a JWT
with the ``agent`` video grant, in ``Authorization: Bearer``), and dispatches
jobs the same way:

- a job goes only to workers registered under its agent name ("" = automatic
  dispatch), that say they are available, picked at random weighted by
  ``1 - load``; a worker that declines is skipped and the next one asked;
  no answer within ``availability_timeout_s`` ends the dispatch (as the
  server does);
- an accepted job is assigned with a room token minted like the server's
  (the worker's identity, kind ``agent``, ``roomJoin`` for that room);
- when a worker's socket dies with jobs running, those jobs are offered
  again, ``resuming=True``, to the other workers, like LiveKit Cloud
  (``reoffer_on_failure=False`` behaves like the open-source server, which
  drops them).

Everything that crosses the socket is recorded for tests to assert on:
offers and answers, job statuses, status updates, migrations. The room side
is not here: a job's token is for a room the tests fake separately. A worker
process that joins its rooms for real (``va serve``) connects to this server's
``/rtc`` too: it is refused (HTTP 404, the job fails at once), or with
``hold_rooms=True`` left waiting without an answer, so each job holds its
slot for the worker's connect timeout, as a slow room server would.
"""

from __future__ import annotations

import asyncio
import itertools
import random
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiohttp import WSMsgType, web
from livekit import api
from livekit.protocol import agent, models

_STATUS_NAMES = {
    agent.JS_PENDING: "pending",
    agent.JS_RUNNING: "running",
    agent.JS_SUCCESS: "success",
    agent.JS_FAILED: "failed",
    agent.JS_CANCELLED: "cancelled",
}


@dataclass
class Offer:
    """One AvailabilityRequest and its answer (``None``: no answer in time)."""

    worker_id: str
    job_id: str
    resuming: bool
    available: bool | None


@dataclass
class JobRecord:
    """A dispatched job: the protobuf job, who runs it, what it reported."""

    job: agent.Job
    worker_id: str | None = None
    statuses: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    assignments: int = 0

    @property
    def ended(self) -> bool:
        """True once the worker reported success or failure."""
        return bool(self.statuses) and self.statuses[-1] in ("success", "failed")


@dataclass
class WorkerConnection:
    """One registered worker connection, as the server sees it."""

    id: str
    registration: agent.RegisterWorkerRequest
    ws: web.WebSocketResponse = field(repr=False)
    status: str = "available"
    load: float = 0.0
    job_count: int = 0
    draining: bool = False
    running: set[str] = field(default_factory=set)
    updates: list[agent.UpdateWorkerStatus] = field(default_factory=list, repr=False)
    migrated: list[str] = field(default_factory=list)
    closed: asyncio.Event = field(default_factory=asyncio.Event, repr=False)
    close_code: int | None = None
    _answers: dict[str, asyncio.Future[agent.AvailabilityResponse]] = field(
        default_factory=dict, repr=False
    )

    @property
    def agent_name(self) -> str:
        """The name the worker registered under ("" = automatic dispatch)."""
        return self.registration.agent_name


@dataclass(frozen=True)
class Dispatched:
    """Where a dispatch landed."""

    job_id: str
    worker_id: str
    room: str


class FakeDispatcher:
    """The agent service of a LiveKit server, for tests (``async with FakeDispatcher(...)``)."""

    def __init__(
        self,
        api_key: str,
        api_secret: str,
        *,
        reoffer_on_failure: bool = True,
        trust_status: bool = True,
        availability_timeout_s: float = 10.0,
        hold_rooms: bool = False,
    ) -> None:
        self.api_key = api_key
        self.api_secret = api_secret
        #: LiveKit Cloud offers a dead worker's jobs again; the open-source server does not.
        self.reoffer_on_failure = reoffer_on_failure
        #: False: offer jobs to workers that say they are full too (tests their refusal).
        self.trust_status = trust_status
        self.availability_timeout_s = availability_timeout_s
        #: Room connections (``/rtc``) wait unanswered instead of being refused.
        self.hold_rooms = hold_rooms
        #: How many room connections workers attempted.
        self.room_attempts = 0
        self._closing = asyncio.Event()
        self.workers: dict[str, WorkerConnection] = {}
        self.gone: list[WorkerConnection] = []
        self.offers: list[Offer] = []
        self.jobs: dict[str, JobRecord] = {}
        self.rejected_connections = 0
        self._ids = itertools.count(1)
        self._changed = asyncio.Event()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- lifecycle ------------------------------------------------------------------

    @property
    def url(self) -> str:
        """What LIVEKIT_URL should be for workers of this dispatcher."""
        return f"ws://127.0.0.1:{self.port}"

    async def start(self, port: int = 0) -> FakeDispatcher:
        """Listen on 127.0.0.1 (a free port unless ``port``)."""
        app = web.Application()
        app.router.add_get("/agent", self._handle)
        app.router.add_get("/rtc", self._room_connection)
        self._runner = web.AppRunner(app, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = int(self._runner.addresses[0][1])
        return self

    async def aclose(self) -> None:
        """Close every worker connection and stop listening."""
        self._closing.set()
        for task in list(self._tasks):
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for worker in list(self.workers.values()):
            await worker.ws.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDispatcher:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- what tests do --------------------------------------------------------------

    async def dispatch(
        self, room: str, agent_name: str = "", *, metadata: str = ""
    ) -> Dispatched | None:
        """Create a job for ``room`` and find it a worker; ``None`` when none took it."""
        job = agent.Job(
            id=f"AJ_{next(self._ids):04d}",
            dispatch_id=f"AD_{next(self._ids):04d}",
            type=agent.JT_ROOM,
            room=models.Room(sid=f"RM_{room}", name=room),
            agent_name=agent_name,
            metadata=metadata,
        )
        self.jobs[job.id] = JobRecord(job=job)
        return await self._place(job, resuming=False)

    async def terminate(self, job_id: str) -> None:
        """End a job from the server side (its dispatch deleted, its room closed)."""
        record = self.jobs[job_id]
        worker = self.workers.get(record.worker_id or "")
        if worker is not None and job_id in worker.running:
            message = agent.ServerMessage(termination=agent.JobTermination(job_id=job_id))
            await worker.ws.send_bytes(message.SerializeToString())

    async def drop(self, worker_id: str) -> None:
        """Close a worker's socket from the server side (a network failure, a restart)."""
        await self.workers[worker_id].ws.close(code=1011, message=b"dropped by the test")

    async def wait_for(
        self, predicate: Callable[[], bool], *, within_s: float = 15.0, what: str = "a condition"
    ) -> None:
        """Wait until ``predicate()`` holds (it is checked after every message)."""
        try:
            async with asyncio.timeout(within_s):
                while not predicate():
                    await self._changed.wait()
        except TimeoutError:
            raise AssertionError(f"timed out after {within_s} s waiting for {what}") from None

    async def wait_for_workers(self, count: int, *, within_s: float = 30.0) -> None:
        """Wait until ``count`` workers are registered and connected."""
        await self.wait_for(
            lambda: len(self.workers) >= count, within_s=within_s, what=f"{count} workers"
        )

    async def wait_for_status(self, job_id: str, status: str, *, within_s: float = 15.0) -> None:
        """Wait until a job reported ``status`` (running, success, failed)."""
        await self.wait_for(
            lambda: status in self.jobs[job_id].statuses,
            within_s=within_s,
            what=f"job {job_id} to report {status}",
        )

    def offers_for(self, job_id: str) -> list[Offer]:
        """Every offer of one job, in order."""
        return [offer for offer in self.offers if offer.job_id == job_id]

    # -- the server side ------------------------------------------------------------

    async def _room_connection(self, request: web.Request) -> web.StreamResponse:
        """A worker joining a job's room: no room here (refused, or held unanswered)."""
        self.room_attempts += 1
        self._notify()
        if self.hold_rooms:
            await self._closing.wait()
        raise web.HTTPNotFound(text="no rooms on the fake dispatcher")

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        self._authorize(request)
        ws = web.WebSocketResponse(heartbeat=10.0)  # livekit-server pings every 10 s
        await ws.prepare(request)
        try:
            async with asyncio.timeout(10):  # RegisterTimeout
                first = await ws.receive()
            message = agent.WorkerMessage.FromString(first.data)
        except Exception:
            await ws.close()
            return ws
        if message.WhichOneof("message") != "register":
            await ws.close()
            return ws
        worker = WorkerConnection(
            id=f"AW_{next(self._ids):04d}", registration=message.register, ws=ws
        )
        reply = agent.ServerMessage(
            register=agent.RegisterWorkerResponse(
                worker_id=worker.id,
                server_info=models.ServerInfo(region="fake", protocol=16, agent_protocol=1),
            )
        )
        await ws.send_bytes(reply.SerializeToString())
        self.workers[worker.id] = worker
        self._notify()
        try:
            async for frame in ws:
                if frame.type == WSMsgType.BINARY:
                    await self._received(worker, agent.WorkerMessage.FromString(frame.data))
        finally:
            await self._worker_gone(worker)
        return ws

    def _authorize(self, request: web.Request) -> None:
        header = request.headers.get("Authorization", "")
        token = header.removeprefix("Bearer ") if header.startswith("Bearer ") else ""
        token = token or request.query.get("access_token", "")
        try:
            claims = api.TokenVerifier(self.api_key, self.api_secret).verify(token)
        except Exception:
            self.rejected_connections += 1
            raise web.HTTPUnauthorized() from None
        if not (claims.video and claims.video.agent):
            self.rejected_connections += 1
            raise web.HTTPUnauthorized()

    async def _received(self, worker: WorkerConnection, message: agent.WorkerMessage) -> None:
        kind = message.WhichOneof("message")
        if kind == "availability":
            answer = worker._answers.pop(message.availability.job_id, None)
            if answer is not None and not answer.done():
                answer.set_result(message.availability)
        elif kind == "update_worker":
            update = message.update_worker
            worker.updates.append(update)
            if update.HasField("status"):  # the server keeps the old status otherwise
                worker.status = "full" if update.status == agent.WS_FULL else "available"
            worker.load, worker.job_count, worker.draining = (
                update.load,
                update.job_count,
                update.draining,
            )
        elif kind == "update_job":
            self._job_updated(worker, message.update_job)
        elif kind == "migrate_job":
            worker.migrated.extend(message.migrate_job.job_ids)
            for job_id in message.migrate_job.job_ids:
                record = self.jobs.get(job_id)
                if record is not None and not record.ended and record.worker_id not in self.workers:
                    record.worker_id = worker.id  # still its job: nobody else took it
                    worker.running.add(job_id)
        elif kind == "ping":
            pong = agent.WorkerPong(
                last_timestamp=message.ping.timestamp, timestamp=int(time.time() * 1000)
            )
            await worker.ws.send_bytes(agent.ServerMessage(pong=pong).SerializeToString())
        self._notify()

    def _job_updated(self, worker: WorkerConnection, update: agent.UpdateJobStatus) -> None:
        record = self.jobs.get(update.job_id)
        if record is None:
            return  # the server ignores unknown jobs
        record.statuses.append(_STATUS_NAMES.get(update.status, str(update.status)))
        if update.error:
            record.errors.append(update.error)
        if record.ended:
            worker.running.discard(update.job_id)

    async def _worker_gone(self, worker: WorkerConnection) -> None:
        self.workers.pop(worker.id, None)
        self.gone.append(worker)
        worker.close_code = worker.ws.close_code
        worker.closed.set()
        for job_id, answer in worker._answers.items():
            if not answer.done():  # a closed worker is as good as a "no": try the next one
                answer.set_result(agent.AvailabilityResponse(job_id=job_id, available=False))
        orphans = [job_id for job_id in worker.running if not self.jobs[job_id].ended]
        worker.running.clear()
        self._notify()
        if self.reoffer_on_failure:
            for job_id in orphans:
                task = asyncio.create_task(
                    self._place(self.jobs[job_id].job, resuming=True), name=f"reoffer-{job_id}"
                )
                self._tasks.add(task)
                task.add_done_callback(self._tasks.discard)

    async def _place(self, job: agent.Job, *, resuming: bool) -> Dispatched | None:
        record = self.jobs[job.id]
        tried: set[str] = set()
        while (worker := self._select(job.agent_name, tried)) is not None:
            tried.add(worker.id)
            answer = await self._ask(worker, job, resuming)
            self.offers.append(
                Offer(worker.id, job.id, resuming, None if answer is None else answer.available)
            )
            self._notify()
            if answer is None:
                return None  # the server gives up on a job whose offer timed out
            if answer.terminate:
                return None
            if not answer.available:
                continue
            record.worker_id = worker.id
            record.assignments += 1
            worker.running.add(job.id)
            token = self._job_token(worker, job, answer)
            assignment = agent.JobAssignment(job=job, token=token)
            await worker.ws.send_bytes(
                agent.ServerMessage(assignment=assignment).SerializeToString()
            )
            self._notify()
            return Dispatched(job_id=job.id, worker_id=worker.id, room=job.room.name)
        return None

    def _select(self, agent_name: str, tried: set[str]) -> WorkerConnection | None:
        """A matching worker, weighted by spare capacity (livekit-server's selection)."""
        candidates = [
            worker
            for worker in self.workers.values()
            if worker.agent_name == agent_name
            and worker.registration.type == agent.JT_ROOM
            and worker.id not in tried
            and (worker.status == "available" or not self.trust_status)
        ]
        if not self.trust_status:
            return random.choice(candidates) if candidates else None
        weights = [max(0.0, 1.0 - worker.load) for worker in candidates]
        if not candidates or sum(weights) <= 0:
            return None
        return random.choices(candidates, weights)[0]

    async def _ask(
        self, worker: WorkerConnection, job: agent.Job, resuming: bool
    ) -> agent.AvailabilityResponse | None:
        answer: asyncio.Future[agent.AvailabilityResponse] = (
            asyncio.get_running_loop().create_future()
        )
        worker._answers[job.id] = answer
        job.state.CopyFrom(agent.JobState(status=agent.JS_PENDING, worker_id=worker.id))
        request = agent.AvailabilityRequest(job=job, resuming=resuming)
        try:
            await worker.ws.send_bytes(
                agent.ServerMessage(availability=request).SerializeToString()
            )
            async with asyncio.timeout(self.availability_timeout_s):
                return await answer
        except TimeoutError:
            return None
        except ConnectionError:  # the worker went away: the server tries the next one
            return agent.AvailabilityResponse(job_id=job.id, available=False)
        finally:
            worker._answers.pop(job.id, None)

    def _job_token(
        self, worker: WorkerConnection, job: agent.Job, answer: agent.AvailabilityResponse
    ) -> str:
        """The room token livekit-server mints for an assignment (protocol's BuildAgentToken)."""
        allowed = worker.registration.allowed_permissions
        attributes = dict(answer.participant_attributes)
        attributes["lk.agent_name"] = worker.agent_name
        return (
            api.AccessToken(self.api_key, self.api_secret)
            .with_identity(answer.participant_identity)
            .with_name(answer.participant_name)
            .with_metadata(answer.participant_metadata)
            .with_attributes(attributes)
            .with_kind("agent")
            .with_grants(
                api.VideoGrants(
                    room_join=True,
                    room=job.room.name,
                    agent=True,
                    can_publish=allowed.can_publish,
                    can_subscribe=allowed.can_subscribe,
                    can_publish_data=allowed.can_publish_data,
                    can_update_own_metadata=allowed.can_update_metadata,
                    hidden=allowed.hidden,
                )
            )
            .to_jwt()
        )

    def _notify(self) -> None:
        """Wake every :meth:`wait_for` (a new event for the next change)."""
        self._changed.set()
        self._changed = asyncio.Event()

"""Helpers for the ``va serve`` worker tests: keys, a job handler that holds its room,
a worker process and the events it prints."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voice_agent_cli.cli.serve import ServeRun
from voice_agent_cli.config import Settings
from voice_agent_cli.rooms.worker import Job
from voice_agent_cli.testing.fake_dispatcher import FakeDispatcher
from voice_agent_cli.testing.fake_livekit import FakeLiveKitServer
from voice_agent_cli.testing.fake_llm import FakeLLM

API_KEY = "APIworkertests"
#: 32 bytes or more: PyJWT warns about shorter HMAC keys (and warnings are errors here).
API_SECRET = "worker-tests-secret-0123456789abcdef"


def serve_run(
    settings: Settings, dispatcher: FakeDispatcher, rooms: FakeLiveKitServer, llm: FakeLLM
) -> ServeRun:
    """``va serve`` in-process: the fake dispatcher, the fake rooms, a scripted LLM, no CPU load."""
    return ServeRun(
        settings,
        dispatcher.url,
        API_KEY,
        API_SECRET,
        json_output=True,
        room_factory=rooms.room_factory,
        llm=llm,
        cpu_load=lambda: 0.0,
    )


@dataclass
class HeldJobs:
    """A ``run_job`` that joins nothing and holds each job until asked to stop.

    On "draining" it first finishes its turn (``turn_s``); a job can be told to
    fail (``fail_with``) or to ignore stop requests (``stubborn``).
    """

    turn_s: float = 0.0
    fail_with: str | None = None
    stubborn: bool = False
    started: list[tuple[Job, str, str]] = field(default_factory=list)
    stopped: list[tuple[str, str]] = field(default_factory=list)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    async def __call__(self, job: Job, url: str, token: str) -> None:
        self.started.append((job, url, token))
        self.changed.set()
        if self.fail_with is not None:
            raise RuntimeError(self.fail_with)
        if self.stubborn:
            await asyncio.Event().wait()
        reason = await job.wait_stop()
        if reason == "draining":
            await asyncio.sleep(self.turn_s)  # the turn in flight ends, then the room is left
        self.stopped.append((job.id, reason))
        self.changed.set()


class WorkerProcess:
    """One worker process and the events it printed."""

    def __init__(self, process: asyncio.subprocess.Process) -> None:
        self.process = process
        self.events: list[dict[str, Any]] = []
        self._changed = asyncio.Event()
        self._reader = asyncio.create_task(self._read(), name="worker-stdout")

    async def _read(self) -> None:
        assert self.process.stdout is not None
        async for line in self.process.stdout:
            self.events.append(json.loads(line))
            self._changed.set()
            self._changed = asyncio.Event()

    @property
    def worker_id(self) -> str:
        return [e["worker_id"] for e in self.events if e["type"] == "registered"][-1]

    async def wait_for(
        self, predicate: Callable[[dict[str, Any]], bool], within_s: float = 20
    ) -> dict[str, Any]:
        async with asyncio.timeout(within_s):
            while True:
                for event in self.events:
                    if predicate(event):
                        return event
                await self._changed.wait()

    async def exit_code(self, within_s: float = 30) -> int:
        async with asyncio.timeout(within_s):
            code = await self.process.wait()
            await self._reader
        return code

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [e for e in self.events if e["type"] == kind]


async def kill_the_owner(
    dispatcher: FakeDispatcher, workers: list[WorkerProcess], job: str
) -> tuple[Any, WorkerProcess, dict[str, Any]]:
    """Dispatch ``job`` to one of two workers, SIGKILL it once the job runs, and wait until
    the other starts it again: (the placement, the survivor, its job_started event)."""
    placed = await dispatcher.dispatch(job)
    assert placed is not None
    await dispatcher.wait_for_status(placed.job_id, "running")
    owner = next(w for w in workers if w.worker_id == placed.worker_id)
    survivor = next(w for w in workers if w is not owner)
    owner.process.kill()  # SIGKILL: no drain, no goodbye, the socket just dies
    resumed = await survivor.wait_for(lambda e: e["type"] == "job_started")
    assert resumed["job"]["id"] == placed.job_id and resumed["job"]["resuming"] is True
    return placed, survivor, resumed


class WorkerFleet:
    """Worker processes a test starts against one dispatcher; killed, if still running, after."""

    def __init__(self, dispatcher: FakeDispatcher) -> None:
        self.dispatcher = dispatcher
        self.started: list[WorkerProcess] = []

    async def start(
        self, count: int, argv: list[str], env: dict[str, str], *, stderr: int | None = None
    ) -> list[WorkerProcess]:
        """Start ``count`` processes running ``argv``; return once each has registered."""
        before = len(self.dispatcher.workers)
        batch = []
        for _ in range(count):
            process = await asyncio.create_subprocess_exec(
                *argv, stdout=asyncio.subprocess.PIPE, stderr=stderr, env=env
            )
            batch.append(WorkerProcess(process))
        self.started.extend(batch)
        await self.dispatcher.wait_for_workers(before + count, within_s=60)
        for worker in batch:
            await worker.wait_for(lambda e: e["type"] == "registered")
        return batch

    async def aclose(self) -> None:
        """Kill what still runs, and stop reading its output."""
        for worker in self.started:
            if worker.process.returncode is None:
                worker.process.kill()
            await worker.process.wait()
            worker._reader.cancel()

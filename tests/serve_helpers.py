"""Helpers for the ``va serve`` worker tests: keys, a job handler that holds its room."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field

from voice_agent_cli.rooms.worker import Job

API_KEY = "APIworkertests"
#: 32 bytes or more: PyJWT warns about shorter HMAC keys (and warnings are errors here).
API_SECRET = "worker-tests-secret-0123456789abcdef"


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

"""A job: one room the LiveKit server dispatched to this worker.

The worker hands a :class:`Job` to the injected ``run_job(job, url, token)``
coroutine, which joins ``job.room`` with ``token`` and stays until the room
ends, or until :meth:`Job.wait_stop` says to leave:

- ``"draining"``: ``va serve`` got SIGTERM/SIGINT; finish the turn in flight, then leave;
- ``"terminated"``: the server ended the job (dispatch deleted, room closed); leave now.

``run_job`` returning means success; raising means failure (the server is
told, and LiveKit Cloud may restart the job on another worker).
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

StopReason = Literal["draining", "terminated", "shutdown"]


@dataclass
class Job:
    """One dispatched room, as ``run_job`` sees it."""

    id: str
    room: str
    agent_name: str = ""
    metadata: str = ""
    dispatch_id: str = ""
    #: The server offers this job again after its previous worker failed.
    resuming: bool = False
    #: The agent's identity and display name in the room (the server put them in the token).
    identity: str = ""
    name: str = ""
    stop_reason: StopReason | None = None
    _stop: asyncio.Event = field(default_factory=asyncio.Event, repr=False, compare=False)

    @property
    def stopping(self) -> bool:
        """True once the worker asked this job to end."""
        return self._stop.is_set()

    async def wait_stop(self) -> StopReason:
        """Wait until the worker asks this job to end; why it did."""
        await self._stop.wait()
        assert self.stop_reason is not None
        return self.stop_reason

    def request_stop(self, reason: StopReason) -> None:
        """Ask the job to end (the first reason given is kept)."""
        if self.stop_reason is None:
            self.stop_reason = reason
        self._stop.set()

    def as_json(self) -> dict[str, object]:
        """Plain data for events and logs (the token is never part of a job)."""
        return {
            "id": self.id,
            "room": self.room,
            "agent_name": self.agent_name,
            "resuming": self.resuming,
            "identity": self.identity,
        }

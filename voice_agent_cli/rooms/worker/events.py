"""What a worker reports while it runs: one vocabulary for the view, JSON lines and logs.

The :class:`~voice_agent_cli.rooms.worker.worker.Worker` calls its
``on_event`` callback with these; ``va serve`` renders them (a live view on
a terminal, one JSON object per line otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Any, Literal

from voice_agent_cli.rooms.worker.job import Job


@dataclass(frozen=True)
class Registered:
    """The server accepted the worker (again, after a reconnection)."""

    worker_id: str
    agent_name: str
    server: str
    type: Literal["registered"] = "registered"


@dataclass(frozen=True)
class ConnectionLost:
    """The worker's socket to the server broke; it reconnects after ``delay_s``."""

    reason: str
    attempt: int
    delay_s: float
    type: Literal["connection_lost"] = "connection_lost"


@dataclass(frozen=True)
class JobOffered:
    """The server offered a job; the worker accepted it or said why not."""

    job: Job
    accepted: bool
    reason: str = ""
    type: Literal["job_offered"] = "job_offered"


@dataclass(frozen=True)
class JobStarted:
    """An accepted job was assigned and is running."""

    job: Job
    type: Literal["job_started"] = "job_started"


@dataclass(frozen=True)
class JobEnded:
    """A job ended: ``success`` or ``failed`` (with the error)."""

    job: Job
    status: Literal["success", "failed"]
    error: str = ""
    type: Literal["job_ended"] = "job_ended"


@dataclass(frozen=True)
class StatusReported:
    """The worker told the server its status and load."""

    status: Literal["available", "full"]
    load: float
    cpu: float
    jobs: int
    type: Literal["status"] = "status"


@dataclass(frozen=True)
class Draining:
    """The worker stopped taking jobs and waits for ``jobs`` to finish."""

    jobs: int
    type: Literal["draining"] = "draining"


@dataclass(frozen=True)
class Stopped:
    """The worker closed its connection: drained, or given up."""

    reason: str
    type: Literal["stopped"] = "stopped"


WorkerEvent = (
    Registered | ConnectionLost | JobOffered | JobStarted | JobEnded | StatusReported
    | Draining | Stopped
)  # fmt: skip


def event_json(event: WorkerEvent) -> dict[str, Any]:
    """An event as one JSON object (a job as its public fields)."""
    data: dict[str, Any] = {"type": event.type}
    for item in fields(event):
        value = getattr(event, item.name)
        if item.name != "type":
            data[item.name] = value.as_json() if isinstance(value, Job) else value
    return data

"""The LiveKit agent-worker protocol at its boundary: protobuf messages over a websocket.

This is the only module that touches ``livekit.protocol.agent``; the worker
speaks in va's own terms (:class:`~voice_agent_cli.rooms.worker.job.Job`,
statuses as words) and these functions translate. The messages are the ones
LiveKit Agents exchanges with a LiveKit server (``livekit_agent.proto``)::

    worker                                   server (/agent)
      ── WorkerMessage.register ───────────────►
      ◄─ ServerMessage.register (worker_id) ────
      ◄─ ServerMessage.availability (job) ──────      an offer
      ── WorkerMessage.availability ───────────►      accept (identity) or decline
      ◄─ ServerMessage.assignment (job, token) ─      join the room with this token
      ── WorkerMessage.update_job (RUNNING) ───►
      ── WorkerMessage.update_worker (load) ───►      every few seconds, and on changes
      ◄─ ServerMessage.termination (job_id) ────      the server ended the job
      ── WorkerMessage.update_job (SUCCESS) ───►

Frames are binary (``SerializeToString``); the connection is authorised by a
token with the ``agent`` video grant in an ``Authorization: Bearer`` header.
"""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING, Literal
from urllib.parse import urlsplit, urlunsplit

from voice_agent_cli.rooms.tokens import _short_secret_allowed
from voice_agent_cli.rooms.worker.job import Job

if TYPE_CHECKING:
    from livekit.protocol import agent

JobOutcome = Literal["running", "success", "failed"]
#: The worker's protocol version (``ServerInfo.agent_protocol`` of current servers).
AGENT_PROTOCOL = 1


def agent_url(livekit_url: str) -> str:
    """The worker endpoint: ``<url>/agent``, ws(s) scheme, any path prefix kept."""
    parts = urlsplit(livekit_url)
    scheme = {"http": "ws", "https": "wss"}.get(parts.scheme, parts.scheme)
    path = parts.path.rstrip("/") + "/agent"
    return urlunsplit((scheme, parts.netloc, path, "", ""))


def worker_token(api_key: str, api_secret: str, *, ttl_s: float = 600) -> str:
    """A short-lived token with the ``agent`` grant: all a worker needs to register."""
    from livekit import api

    with _short_secret_allowed(api_secret):
        return (
            api.AccessToken(api_key, api_secret)
            .with_grants(api.VideoGrants(agent=True))
            .with_ttl(dt.timedelta(seconds=ttl_s))
            .to_jwt()
        )


def register(agent_name: str, version: str) -> bytes:
    """The first frame: a room-job worker, named (or not), and what its participants may do."""
    from livekit.protocol import agent, models

    message = agent.WorkerMessage(
        register=agent.RegisterWorkerRequest(
            type=agent.JT_ROOM,
            agent_name=agent_name,
            version=version,
            allowed_permissions=models.ParticipantPermission(
                can_publish=True,
                can_subscribe=True,
                can_publish_data=True,
                can_update_metadata=True,
                agent=True,
            ),
        )
    )
    return message.SerializeToString()


def parse(frame: bytes) -> agent.ServerMessage:
    """A server frame; :class:`ValueError` when it is not a ServerMessage."""
    from google.protobuf.message import DecodeError
    from livekit.protocol import agent

    try:
        return agent.ServerMessage.FromString(frame)
    except DecodeError as exc:
        raise ValueError(f"not a LiveKit agent-protocol message: {exc}") from None


def offered_job(request: agent.AvailabilityRequest) -> Job:
    """va's :class:`Job` for an availability request."""
    job = request.job
    return Job(
        id=job.id,
        room=job.room.name,
        agent_name=job.agent_name,
        metadata=job.metadata,
        dispatch_id=job.dispatch_id,
        resuming=request.resuming,
    )


def accept(job: Job, *, agent_name: str) -> bytes:
    """Take the job, as ``job.identity`` / ``job.name`` in its room."""
    from livekit.protocol import agent

    response = agent.AvailabilityResponse(
        job_id=job.id,
        available=True,
        participant_identity=job.identity,
        participant_name=job.name,
        participant_attributes={"lk.agent.name": agent_name},
    )
    return agent.WorkerMessage(availability=response).SerializeToString()


def decline(job_id: str) -> bytes:
    """Not this worker: the server offers the job to another one."""
    from livekit.protocol import agent

    response = agent.AvailabilityResponse(job_id=job_id, available=False)
    return agent.WorkerMessage(availability=response).SerializeToString()


def job_status(job_id: str, outcome: JobOutcome, error: str = "") -> bytes:
    """Where a job stands: running, or ended (success / failed, with the error)."""
    from livekit.protocol import agent

    status = {"running": agent.JS_RUNNING, "success": agent.JS_SUCCESS, "failed": agent.JS_FAILED}
    update = agent.UpdateJobStatus(job_id=job_id, status=status[outcome], error=error)
    return agent.WorkerMessage(update_job=update).SerializeToString()


def worker_status(*, full: bool, load: float, jobs: int, draining: bool) -> bytes:
    """The worker's status (always set: the server keeps the old one when it is absent)."""
    from livekit.protocol import agent

    update = agent.UpdateWorkerStatus(
        status=agent.WS_FULL if full else agent.WS_AVAILABLE,
        load=load,
        job_count=jobs,
        draining=draining,
    )
    return agent.WorkerMessage(update_worker=update).SerializeToString()


def migrate(job_ids: list[str]) -> bytes:
    """After a reconnection: the jobs this worker still runs (LiveKit Cloud keeps them)."""
    from livekit.protocol import agent

    return agent.WorkerMessage(
        migrate_job=agent.MigrateJobRequest(job_ids=job_ids)
    ).SerializeToString()

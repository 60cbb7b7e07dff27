"""A LiveKit agent worker: register, take jobs by capacity, report load, drain cleanly.

::

    Worker.run ─► connect <LIVEKIT_URL>/agent (agent-grant token) ─► register (agent name)
        │             ▲ lost: reconnect, capped jittered backoff; jobs keep running
        ▼             │
      reader ── availability ─► decline (draining / at max_jobs / CPU above threshold)
        │                    └► accept (identity PREFIX-JOBID), a slot held ≤ assignment_timeout_s
        ├──── assignment ───► task: run_job(job, url, token) ─► running … success / failed
        ├──── termination ──► job.request_stop("terminated"), cancelled after stop_timeout_s
      ticker ─ every status_interval_s ─► status (available/full, load, job count)
      sender ─ one queue of frames; job statuses survive a reconnection, the rest is redone

    request_drain (SIGTERM/SIGINT) ─► status full + draining, decline every offer,
        jobs asked to finish their turn (job.wait_stop() says "draining"), cancelled
        after drain_timeout_s ─► last statuses flushed ─► socket closed (1000) ─► run() returns

The room side is injected: ``run_job(job, url, token)`` is the coroutine that
joins ``job.room`` (``va serve`` gives it the room agent of ``va join``), so
the protocol is tested on its own against
:class:`~voice_agent_cli.testing.fake_dispatcher.FakeDispatcher`.

Load is the larger of the CPU use and the share of job slots taken, so the
server (which picks workers weighted by ``1 - load``) sends fewer rooms to a
worker that already has some, even when its CPU is idle. With a CPU threshold
of 1 (never decline for CPU) the load is the share of slots alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Literal

from voice_agent_cli import __version__
from voice_agent_cli.errors import EXIT_INTERRUPTED, EXIT_OK, RoomAuthError, RoomUnavailable
from voice_agent_cli.masking import mask_url
from voice_agent_cli.observe import redaction
from voice_agent_cli.rooms.backoff import ReconnectPolicy
from voice_agent_cli.rooms.worker import protocol
from voice_agent_cli.rooms.worker.events import (
    ConnectionLost,
    Draining,
    JobEnded,
    JobOffered,
    JobStarted,
    Registered,
    StatusReported,
    Stopped,
    WorkerEvent,
)
from voice_agent_cli.rooms.worker.job import Job
from voice_agent_cli.rooms.worker.load import CpuLoad
from voice_agent_cli.rooms.worker.settings import ServeSettings

if TYPE_CHECKING:
    import aiohttp
    from livekit.protocol import agent

logger = logging.getLogger("va.serve")

RunJob = Callable[[Job, str, str], Awaitable[None]]
#: How long the last job statuses may take to leave before the socket is closed.
FLUSH_TIMEOUT_S = 5.0
#: Largest frame accepted from the server (a job with its room and metadata is small).
MAX_FRAME_BYTES = 4 * 1024 * 1024

_FrameKind = Literal["job", "other"]


@dataclass
class _Running:
    job: Job
    task: asyncio.Task[None]
    kill: asyncio.TimerHandle | None = None


@dataclass
class _Reserved:
    job: Job
    expiry: asyncio.TimerHandle


class _Lost(Exception):
    """The socket to the server broke (internal: the worker reconnects)."""


class Worker:
    """One ``va serve`` process as a LiveKit agent worker."""

    def __init__(
        self,
        *,
        url: str,
        api_key: str,
        api_secret: str,
        run_job: RunJob,
        settings: ServeSettings | None = None,
        cpu_load: Callable[[], float] | None = None,
        on_event: Callable[[WorkerEvent], None] | None = None,
        participant_name: str = "va",
        version: str = f"va {__version__}",
    ) -> None:
        self.url = url
        self.settings = settings or ServeSettings()
        self._api_key = api_key
        self._api_secret = api_secret
        self._run_job = run_job
        self._cpu_sampler = CpuLoad() if cpu_load is None else None
        self._cpu: Callable[[], float] = cpu_load or self._cpu_sampler or (lambda: 0.0)
        self._on_event = on_event

        redaction.register_secret(api_secret)  # never in a log line, a job error, an event
        self._participant_name = participant_name
        self._version = version
        self._policy = ReconnectPolicy(
            base_s=self.settings.reconnect_base_s,
            max_s=self.settings.reconnect_max_s,
            jitter=self.settings.reconnect_jitter,
            max_attempts=self.settings.reconnect_attempts,
        )
        self._jobs: dict[str, _Running] = {}
        self._reserved: dict[str, _Reserved] = {}
        self._outbox: deque[tuple[_FrameKind, bytes]] = deque()
        self._outbox_changed = asyncio.Event()
        self._outbox_empty = asyncio.Event()
        self._draining = False
        self._drained = asyncio.Event()
        self._drain_timer: asyncio.TimerHandle | None = None
        self._forced = False
        #: The id the server gave this worker on its current connection.
        self.worker_id = ""

    # -- public ---------------------------------------------------------------------

    @property
    def jobs(self) -> list[Job]:
        """The jobs running now."""
        return [running.job for running in self._jobs.values()]

    @property
    def draining(self) -> bool:
        """True once a drain was asked for."""
        return self._draining

    @property
    def forced(self) -> bool:
        """True when :meth:`force_stop` cut the drain short."""
        return self._forced

    async def run(self) -> None:
        """Serve until drained. Raises RoomAuthError (exit 2) or RoomUnavailable (exit 3)."""
        import aiohttp

        if self._cpu_sampler is not None:
            self._cpu_sampler.start()
        try:
            async with aiohttp.ClientSession() as http:
                await self._connection_loop(http)
        finally:
            await self._abandon_jobs()
            if self._cpu_sampler is not None:
                await self._cpu_sampler.aclose()

    def request_drain(self) -> None:
        """Stop taking jobs, let the running ones finish their turns, then close.

        Safe to call from a signal handler; :meth:`run` returns once drained.
        """
        if self._draining:
            return
        self._draining = True
        logger.info("draining: %d job(s) running, no new jobs", len(self._jobs))
        self._emit(Draining(jobs=len(self._jobs)))
        self._report_status()
        for running in self._jobs.values():
            running.job.request_stop("draining")
        loop = asyncio.get_running_loop()
        self._drain_timer = loop.call_later(self.settings.drain_timeout_s, self._drain_timed_out)
        self._check_drained()

    def force_stop(self) -> None:
        """End every job now (a second signal): they are reported failed."""
        self._forced = True
        self.request_drain()
        for running in self._jobs.values():
            running.job.request_stop("shutdown")
            running.task.cancel()
        for job_id in list(self._reserved):
            self._unreserve(job_id)

    # -- connection -----------------------------------------------------------------

    async def _connection_loop(self, http: aiohttp.ClientSession) -> None:
        attempt = 0
        registered_once = False
        while True:
            try:
                ws = await self._connect(http)
            except RoomUnavailable as exc:
                if not registered_once:
                    raise
                reason = str(exc)
            else:
                try:
                    await self._register(ws)
                    registered_once, attempt = True, 0
                    await self._serve(ws)
                    self._emit(Stopped(reason="drained"))
                    return
                except _Lost as exc:
                    reason = str(exc)
                except RoomUnavailable as exc:
                    if not registered_once:
                        raise
                    reason = str(exc)
                finally:
                    if not ws.closed:
                        await ws.close()
            if self._drained.is_set():  # drained while disconnected: nobody to tell
                self._emit(Stopped(reason="drained"))
                return
            attempt += 1
            if attempt > self._policy.max_attempts:
                await self._give_up(reason)
            delay = self._policy.delay(attempt)
            logger.warning("lost the LiveKit server (%s): reconnecting in %.1f s", reason, delay)
            self._emit(ConnectionLost(reason=reason, attempt=attempt, delay_s=delay))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._drained.wait(), delay)

    async def _give_up(self, reason: str) -> None:
        """Reconnection failed too often: finish the jobs' turns, then fail."""
        self.request_drain()
        await self._drained.wait()
        self._emit(Stopped(reason=f"gave up: {reason}"))
        raise RoomUnavailable(
            f"lost the LiveKit server and could not reconnect after "
            f"{self._policy.max_attempts} attempts: {reason}"
        )

    async def _connect(self, http: aiohttp.ClientSession) -> aiohttp.ClientWebSocketResponse:
        import aiohttp

        where = mask_url(self.url)
        token = protocol.worker_token(self._api_key, self._api_secret)
        try:
            async with asyncio.timeout(self.settings.connect_timeout_s):
                return await http.ws_connect(
                    protocol.agent_url(self.url),
                    headers={"Authorization": f"Bearer {token}"},
                    heartbeat=30,
                    max_msg_size=MAX_FRAME_BYTES,
                )
        except aiohttp.WSServerHandshakeError as exc:
            if exc.status in (401, 403):
                raise RoomAuthError(
                    f"the LiveKit server at {where} refused the worker's token "
                    f"(HTTP {exc.status}): check LIVEKIT_API_KEY and LIVEKIT_API_SECRET"
                ) from None
            raise RoomUnavailable(
                f"the server at {where} has no agent service (HTTP {exc.status}): "
                "is it a LiveKit server?"
            ) from None
        except TimeoutError:
            raise RoomUnavailable(
                f"the LiveKit server at {where} did not answer within "
                f"{self.settings.connect_timeout_s:g} s"
            ) from None
        except (aiohttp.ClientError, OSError) as exc:
            reason = str(exc).strip() or type(exc).__name__
            raise RoomUnavailable(f"cannot reach the LiveKit server at {where}: {reason}") from None

    async def _register(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        import aiohttp

        await ws.send_bytes(protocol.register(self.settings.agent_name, self._version))
        try:
            async with asyncio.timeout(self.settings.connect_timeout_s):
                frame = await ws.receive()
        except TimeoutError:
            raise RoomUnavailable(
                "the LiveKit server did not register the worker in time"
            ) from None
        if frame.type != aiohttp.WSMsgType.BINARY:
            raise RoomUnavailable("the LiveKit server closed the connection before registering")
        try:
            message = protocol.parse(frame.data)
        except ValueError as exc:
            raise RoomUnavailable(str(exc)) from None
        if message.WhichOneof("message") != "register":
            raise RoomUnavailable(
                f"protocol error: the server's first message was {message.WhichOneof('message')!r}"
            )
        self.worker_id = message.register.worker_id
        # What was queued for the old connection is stale, except the jobs' outcomes.
        kept = [(kind, frame) for kind, frame in self._outbox if kind == "job"]
        self._outbox = deque(kept)
        if self._jobs:
            self._send(protocol.migrate(list(self._jobs)))
        self._report_status()
        info = message.register.server_info
        server = " ".join(
            part for part in (info.edition and str(info.edition), info.region) if part
        )
        logger.info("registered as %s (agent name %r)", self.worker_id, self.settings.agent_name)
        self._emit(
            Registered(worker_id=self.worker_id, agent_name=self.settings.agent_name, server=server)
        )

    async def _serve(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        """Run the connection until drained (returns) or lost (:class:`_Lost`)."""
        reader = asyncio.create_task(self._read(ws), name="va-worker-reader")
        sender = asyncio.create_task(self._write(ws), name="va-worker-sender")
        ticker = asyncio.create_task(self._tick(), name="va-worker-status")
        drained = asyncio.create_task(self._drained.wait(), name="va-worker-drained")
        try:
            await asyncio.wait({reader, sender, drained}, return_when=asyncio.FIRST_COMPLETED)
            if drained.done() and not reader.done() and not sender.done():
                await self._flush(sender)
                await ws.close()
                return
            failed = reader if reader.done() else sender
            error = failed.exception() if not failed.cancelled() else None
            raise _Lost(str(error) if error else _close_reason(ws))
        finally:
            for task in (reader, sender, ticker, drained):
                task.cancel()
            await asyncio.gather(reader, sender, ticker, drained, return_exceptions=True)

    async def _flush(self, sender: asyncio.Task[None]) -> None:
        """Let the sender empty the queue (the jobs' last statuses) before closing."""
        emptied = asyncio.create_task(self._outbox_empty.wait(), name="va-worker-flush")
        try:
            await asyncio.wait(
                {emptied, sender}, timeout=FLUSH_TIMEOUT_S, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            emptied.cancel()
        if self._outbox:
            logger.warning("closing with %d message(s) unsent", len(self._outbox))

    async def _read(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        import aiohttp

        async for frame in ws:
            if frame.type != aiohttp.WSMsgType.BINARY:
                continue  # va asks for binary frames; text (protojson) is not ours
            try:
                message = protocol.parse(frame.data)
            except ValueError as exc:
                logger.warning("ignored a frame from the server: %s", exc)
                continue
            self._handle(message)

    async def _write(self, ws: aiohttp.ClientWebSocketResponse) -> None:
        while True:
            while self._outbox:
                _, frame = self._outbox[0]
                await ws.send_bytes(frame)
                self._outbox.popleft()
            self._outbox_changed.clear()
            self._outbox_empty.set()
            await self._outbox_changed.wait()

    async def _tick(self) -> None:
        while True:
            await asyncio.sleep(self.settings.status_interval_s)
            self._report_status()

    def _send(self, frame: bytes, kind: _FrameKind = "other") -> None:
        self._outbox.append((kind, frame))
        self._outbox_empty.clear()
        self._outbox_changed.set()

    # -- messages from the server ---------------------------------------------------

    def _handle(self, message: agent.ServerMessage) -> None:
        kind = message.WhichOneof("message")
        if kind == "availability":
            self._offered(message.availability)
        elif kind == "assignment":
            self._assigned(message.assignment)
        elif kind == "termination":
            self._terminated(message.termination.job_id)
        # pong, go_away and a repeated register need nothing from a worker.

    def _offered(self, request: agent.AvailabilityRequest) -> None:
        job = protocol.offered_job(request)
        job.identity = f"{self.settings.identity_prefix}-{job.id}"
        job.name = self._participant_name
        if job.id in self._jobs:  # offered again what we still run: keep running it
            self._send(protocol.accept(job, agent_name=self.settings.agent_name))
            return
        refusal = self._refusal()
        if refusal:
            self._send(protocol.decline(job.id))
            logger.info("declined job %s (room %s): %s", job.id, job.room, refusal)
            self._emit(JobOffered(job=job, accepted=False, reason=refusal))
            return
        loop = asyncio.get_running_loop()
        expiry = loop.call_later(self.settings.assignment_timeout_s, self._unreserve, job.id)
        self._reserved[job.id] = _Reserved(job=job, expiry=expiry)
        self._send(protocol.accept(job, agent_name=self.settings.agent_name))
        self._emit(JobOffered(job=job, accepted=True))
        self._report_status()

    def _refusal(self) -> str:
        """Why this worker cannot take a job now ("" when it can)."""
        if self._draining:
            return "draining"
        taken = len(self._jobs) + len(self._reserved)
        if taken >= self.settings.max_jobs:
            return f"at capacity ({taken} of {self.settings.max_jobs} jobs)"
        cpu = self._cpu()
        if cpu > self.settings.load_threshold:
            return f"CPU at {cpu:.0%} (above {self.settings.load_threshold:.0%})"
        return ""

    def _assigned(self, assignment: agent.JobAssignment) -> None:
        job_id = assignment.job.id
        reserved = self._reserved.pop(job_id, None)
        if reserved is None:
            if job_id in self._jobs:
                self._send(protocol.job_status(job_id, "running"), "job")
            else:
                logger.warning("ignored an assignment for job %s, which was not accepted", job_id)
            return
        reserved.expiry.cancel()
        job = reserved.job
        if self._draining:  # accepted just before the drain: let another worker have it
            self._finish(job, "failed", "the worker is draining")
            return
        url = assignment.url or self.url
        task = asyncio.create_task(self._run(job, url, assignment.token), name=f"va-job-{job.id}")
        self._jobs[job.id] = _Running(job=job, task=task)
        logger.info("job %s: joining room %s as %s", job.id, job.room, job.identity)
        self._send(protocol.job_status(job.id, "running"), "job")
        self._emit(JobStarted(job=job))
        self._report_status()

    def _terminated(self, job_id: str) -> None:
        running = self._jobs.get(job_id)
        if running is not None:
            running.job.request_stop("terminated")
            loop = asyncio.get_running_loop()
            running.kill = loop.call_later(self.settings.stop_timeout_s, running.task.cancel)
        elif job_id in self._reserved:
            self._unreserve(job_id)

    # -- jobs -----------------------------------------------------------------------

    async def _run(self, job: Job, url: str, token: str) -> None:
        outcome: Literal["success", "failed"] = "success"
        error = ""
        try:
            await self._run_job(job, url, token)
        except asyncio.CancelledError:
            # Ours to cancel: past a deadline, or a forced stop. A job the server
            # ended is a success; one cut short otherwise is not.
            if self._forced:
                outcome, error = "failed", "stopped: the worker was shut down"
            elif job.stop_reason == "draining":
                outcome, error = "failed", "stopped: the drain timed out"
            elif job.stop_reason != "terminated":
                outcome, error = "failed", "stopped: the worker was shut down"
        except Exception as exc:
            outcome = "failed"
            error = redaction.redact((str(exc).strip() or type(exc).__name__).splitlines()[0])[:500]
            logger.warning("job %s (room %s) failed: %s", job.id, job.room, error)
        finally:
            running = self._jobs.pop(job.id, None)
            if running is not None and running.kill is not None:
                running.kill.cancel()
        self._finish(job, outcome, error)

    def _finish(self, job: Job, outcome: Literal["success", "failed"], error: str) -> None:
        self._send(protocol.job_status(job.id, outcome, error), "job")
        logger.info("job %s (room %s): %s", job.id, job.room, outcome)
        self._emit(JobEnded(job=job, status=outcome, error=error))
        self._report_status()
        self._check_drained()

    def _unreserve(self, job_id: str) -> None:
        reserved = self._reserved.pop(job_id, None)
        if reserved is not None:
            reserved.expiry.cancel()
            logger.info("job %s was accepted but never assigned: slot freed", job_id)
            self._report_status()
            self._check_drained()

    def _drain_timed_out(self) -> None:
        for running in self._jobs.values():
            logger.warning("job %s did not finish within the drain timeout", running.job.id)
            running.task.cancel()

    def _check_drained(self) -> None:
        if self._draining and not self._jobs and not self._reserved:
            if self._drain_timer is not None:
                self._drain_timer.cancel()
            self._drained.set()

    async def _abandon_jobs(self) -> None:
        """On the way out for any reason: no job task or timer outlives the worker."""
        tasks = [running.task for running in self._jobs.values()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for job_id in list(self._reserved):
            self._unreserve(job_id)
        if self._drain_timer is not None:
            self._drain_timer.cancel()

    # -- status ---------------------------------------------------------------------

    def _report_status(self) -> None:
        cpu = self._cpu()
        taken = len(self._jobs) + len(self._reserved)
        # A threshold of 1 takes the CPU out of the picture: out of the load too, or
        # a busy machine would report 1.0 and the server would never pick it.
        counted_cpu = cpu if self.settings.load_threshold < 1 else 0.0
        load = min(1.0, max(counted_cpu, taken / self.settings.max_jobs))
        full = bool(self._refusal())
        self._send(
            protocol.worker_status(
                full=full, load=load, jobs=len(self._jobs), draining=self._draining
            )
        )
        self._emit(
            StatusReported(
                status="full" if full else "available", load=load, cpu=cpu, jobs=len(self._jobs)
            )
        )

    def _emit(self, event: WorkerEvent) -> None:
        if self._on_event is None:
            return
        try:
            self._on_event(event)
        except Exception:  # a broken view must not take the worker down
            logger.exception("the worker's event handler failed")


def _close_reason(ws: aiohttp.ClientWebSocketResponse) -> str:
    code = ws.close_code
    return f"the server closed the connection (code {code})" if code else "the connection closed"


async def serve_until_signalled(worker: Worker) -> int:
    """Run ``worker``; SIGTERM/SIGINT drain it, a second one ends the jobs at once.

    Returns the exit code: 0 after a drain, 130 after a forced stop.
    """
    loop = asyncio.get_running_loop()
    received = 0

    def on_signal() -> None:
        nonlocal received
        received += 1
        if received == 1:
            worker.request_drain()
        else:
            worker.force_stop()

    handled = (signal.SIGTERM, signal.SIGINT)
    for signum in handled:
        loop.add_signal_handler(signum, on_signal)
    try:
        await worker.run()
    finally:
        for signum in handled:
            loop.remove_signal_handler(signum)
    return EXIT_INTERRUPTED if worker.forced else EXIT_OK

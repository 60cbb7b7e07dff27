"""What a ``va serve`` job does: join its room with the room agent of ``va join``.

::

    Worker ─► RoomJobs(job, url, token)
        ─► JobRun (a JoinRun: the same RoomAgent, voices, transcripts, sessions)
             joins job.room as job.identity with the server's token
             ─► the shared engines (one agent, one STT, one TTS for every room;
                loaded with the first room that is joined, not before)
             ─► answers until the job is asked to stop
        job.wait_stop(): "draining" ─► the turns in flight end, then the room is left
                         "terminated" / "shutdown" ─► the room is left now

A room that cannot be joined fails the job (the worker tells the server,
and logs one line with the job id and why); the worker itself goes on.
Each room gets its own conversation with the shared agent, so one room's
history never reaches another's LLM requests.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from contextlib import AsyncExitStack
from typing import TYPE_CHECKING, Any

from voice_agent_cli.cli.join import Engines, JoinRun, RoomView
from voice_agent_cli.compose.agent import open_agent
from voice_agent_cli.errors import RoomAuthError
from voice_agent_cli.rooms.events import event_json
from voice_agent_cli.rooms.sdk import AGENT_STATE_ATTRIBUTE
from voice_agent_cli.rooms.target import RoomTarget
from voice_agent_cli.rooms.tokens import inspect_token, mint_token
from voice_agent_cli.speech.build import build_engines, load_models, turn_detector

if TYPE_CHECKING:
    from voice_agent_cli.config import Settings
    from voice_agent_cli.llm.base import LLM
    from voice_agent_cli.rooms.events import RoomEvent
    from voice_agent_cli.rooms.sdk import RoomLike
    from voice_agent_cli.rooms.session import RoomAgent
    from voice_agent_cli.rooms.worker import Job

_logger = logging.getLogger("va.serve")

#: Voice states in which a turn is in flight (a drain waits for them to end).
_BUSY = ("thinking", "speaking")

RoomEvents = Callable[[str, dict[str, Any]], None]


class SharedEngines:
    """The agent and speech engines every job of one worker shares, loaded once, when needed."""

    def __init__(self, settings: Settings, *, llm: LLM | None = None) -> None:
        self.settings = settings
        self.llm = llm
        self._lock = asyncio.Lock()
        self._stack = AsyncExitStack()
        self._engines: Engines | None = None

    @property
    def loaded(self) -> bool:
        """True once the models are loaded."""
        return self._engines is not None

    async def get(self) -> Engines:
        """The engines, loading them the first time (a failed load is retried next time)."""
        async with self._lock:
            if self._engines is None:
                try:
                    self._engines = await self._load()
                except BaseException:
                    await self._stack.aclose()
                    self._stack = AsyncExitStack()
                    raise
            return self._engines

    async def _load(self) -> Engines:
        stt, tts = build_engines(self.settings.profile)
        self._stack.push_async_callback(stt.aclose)
        self._stack.push_async_callback(tts.aclose)
        agent = await self._stack.enter_async_context(open_agent(self.settings, llm=self.llm))
        # Warmed too: a room's first turn is not cold. The rooms' sessions share the
        # turn detector's model.
        await load_models(agent, stt, tts, turn_detector(self.settings.profile))
        return agent, stt, tts

    async def aclose(self) -> None:
        """Close the agent and the engines (after every job has left its room)."""
        await self._stack.aclose()
        self._engines = None


class JobView:
    """One job's room events, handed to the serve view tagged with the job id."""

    def __init__(self, job_id: str, sink: RoomEvents) -> None:
        self.job_id = job_id
        self.sink = sink

    def show(self, event: RoomEvent) -> None:
        data = event_json(event)
        if data is not None:
            self.sink(self.job_id, data)

    def note(self, message: str, level: str = "info") -> None:
        self.sink(self.job_id, {"event": "notice", "level": level, "message": message})

    def joined(self, *, connect_ms: float | None, people: list[str]) -> None:
        ms = None if connect_ms is None else round(connect_ms, 1)
        self.sink(self.job_id, {"event": "joined", "connect_ms": ms, "participants": people})


class JobRun(JoinRun):
    """``va join`` for one dispatched room, on the worker's shared engines."""

    def __init__(
        self,
        settings: Settings,
        target: Any,
        engines: SharedEngines,
        *,
        room_factory: Callable[[], RoomLike] | None = None,
    ) -> None:
        super().__init__(settings, target, json_output=True, room_factory=room_factory)
        self.engines = engines

    async def _open_engines(self, stack: AsyncExitStack, view: RoomView) -> Engines | None:
        if not self.engines.loaded:
            view.note("loading the speech models and the LLM (once per worker)...")
        if not await self._until_stopped(self.engines.get()):
            return None
        return await self.engines.get()


class RoomJobs:
    """The worker's ``run_job``: each job joins its room and stays until asked to leave."""

    def __init__(
        self,
        settings: Settings,
        *,
        api_key: str,
        api_secret: str,
        engines: SharedEngines,
        room_events: RoomEvents,
        room_factory: Callable[[], RoomLike] | None = None,
    ) -> None:
        self.settings = settings
        self.api_key = api_key
        self.api_secret = api_secret
        self.engines = engines
        self.room_events = room_events
        self.room_factory = room_factory

    async def __call__(self, job: Job, url: str, token: str) -> None:
        target = RoomTarget(
            url, job.room, job.identity, job.name, self._tokens(job, token), minted=False
        )
        run = JobRun(self.settings, target, self.engines, room_factory=self.room_factory)
        room_agent = run.room_agent()
        stopper = asyncio.create_task(
            self._stop_when_asked(job, run, room_agent), name=f"va-job-stop-{job.id}"
        )
        try:
            await run.attend(room_agent, JobView(job.id, self.room_events))
        finally:
            stopper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await stopper

    def _tokens(self, job: Job, token: str) -> Callable[[], str]:
        """The server's token while it is valid; then one signed alike (it lasts an hour)."""

        def current() -> str:
            try:
                inspect_token(token)
                return token
            except RoomAuthError:
                return mint_token(
                    self.api_key,
                    self.api_secret,
                    room=job.room,
                    identity=job.identity,
                    name=job.name,
                    ttl_s=self.settings.profile.livekit.token_ttl_s,
                    agent=True,
                    attributes={AGENT_STATE_ATTRIBUTE: "listening"},
                )

        return current

    async def _stop_when_asked(self, job: Job, run: JobRun, room_agent: RoomAgent) -> None:
        reason = await job.wait_stop()
        if reason == "draining" and _busy(room_agent):
            # Each voice event may end a turn: look again then. The worker cancels
            # the job if this outlasts [serve] drain_timeout_s.
            idle = asyncio.Event()
            room_agent.add_observer(lambda _event: None if _busy(room_agent) else idle.set())
            await idle.wait()
        _logger.info("job %s: leaving room %s (%s)", job.id, job.room, reason)
        run.stop.set()


def _busy(room_agent: RoomAgent) -> bool:
    """True while the agent is thinking about, or saying, someone's answer."""
    return any(person.voice_state in _BUSY for person in room_agent.participants)

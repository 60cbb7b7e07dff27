"""``va serve``: the agent as a LiveKit agent worker; LiveKit dispatches rooms to it.

::

    va serve ─► Worker (voice_agent_cli.rooms.worker): register at LIVEKIT_URL/agent
        a job offered ─► accepted while under --max-jobs and the CPU threshold
        a job assigned ─► RoomJobs (cli/serve_jobs.py): the room agent of va join
        SIGTERM / SIGINT ─► drain: no new jobs, turns in flight end, rooms left, exit 0
                 again  ─► the rooms are left at once, exit 130

Run as many as the load needs, on as many machines: the server spreads the
rooms over every worker registered under the same agent name (none:
automatic dispatch, every new room). The view: a live Rich view on a
terminal; one JSON object per line otherwise (see docs/livekit.md).
A server that cannot be reached, or refuses the key, is a one-line error
(exit 3, or 2 for the key); a room that cannot be joined only fails its job.
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

import typer

from voice_agent_cli.cli.agent_flags import AgentFlags, agent_command
from voice_agent_cli.cli.common import (
    JsonOption,
    LiveKitApiKeyOption,
    LiveKitUrlOption,
    live_console,
)
from voice_agent_cli.cli.join import quiet_sdk_logs

if TYPE_CHECKING:
    from collections.abc import Callable

    from voice_agent_cli.config import Settings
    from voice_agent_cli.llm.base import LLM
    from voice_agent_cli.observe.metrics import Metrics
    from voice_agent_cli.rooms.sdk import RoomLike


def register(app: typer.Typer) -> None:
    """Add ``va serve`` to ``app``."""
    app.command(
        help="Serve LiveKit rooms as an agent worker: LiveKit dispatches each room to a worker."
    )(serve)


@agent_command
def serve(
    url: str | None = LiveKitUrlOption,
    api_key: str | None = LiveKitApiKeyOption,
    agent_name: str | None = typer.Option(
        None,
        "--agent-name",
        help="Take only explicit dispatches to this name (none: automatic dispatch, every room).",
    ),
    max_jobs: int | None = typer.Option(
        None, "--max-jobs", min=1, help="Rooms at once; more offers are declined (4)."
    ),
    load_threshold: float | None = typer.Option(
        None,
        "--load-threshold",
        min=0.01,
        max=1.0,
        help="Decline offers while CPU use is above this share (0.75; 1 = never).",
    ),
    json_output: bool = JsonOption,
    *,
    flags: AgentFlags,
) -> None:
    """Register with LiveKit as an agent worker and serve the rooms it dispatches."""
    import asyncio

    from voice_agent_cli.rooms.credentials import resolve_credentials

    overrides: dict[str, Any] = {
        "serve.agent_name": agent_name,
        "serve.max_jobs": max_jobs,
        "serve.load_threshold": load_threshold,
    }
    settings = flags.settings(overrides)
    credentials = resolve_credentials(settings.profile.livekit, url=url, api_key=api_key)
    server = credentials.require_url()
    key, secret = credentials.require_keys()
    from voice_agent_cli.observe.command import observe_command

    with (
        observe_command(settings, "serve", metrics_json=flags.metrics_json) as observed,
        quiet_sdk_logs(settings),
    ):
        run = ServeRun(settings, server, key, secret, json_output=json_output)
        run.metrics = observed.metrics
        code = asyncio.run(run.main())
    if code:
        raise SystemExit(code)


class ServeRun:
    """One ``va serve`` run: the worker, its rooms, its view, until drained.

    ``room_factory`` and ``llm`` replace the real room and the profile's LLM
    (tests run the whole command against a fake room and a scripted LLM).
    """

    def __init__(
        self,
        settings: Settings,
        url: str,
        api_key: str,
        api_secret: str,
        *,
        json_output: bool,
        room_factory: Callable[[], RoomLike] | None = None,
        llm: LLM | None = None,
        cpu_load: Callable[[], float] | None = None,
    ) -> None:
        self.settings = settings
        self.url = url
        self.api_key = api_key
        self.api_secret = api_secret
        self.json_output = json_output
        self.room_factory = room_factory
        self.llm = llm
        self.cpu_load = cpu_load
        #: The command's registry: the view reads it (None: the registry in force).
        self.metrics: Metrics | None = None

    async def main(self) -> int:
        """Serve until drained; the exit code (0 drained, 130 forced by a second signal)."""
        from voice_agent_cli.cli.serve_jobs import RoomJobs, SharedEngines
        from voice_agent_cli.observe import metrics
        from voice_agent_cli.rooms.worker import Worker, serve_until_signalled
        from voice_agent_cli.ui.serve_view import ServeView

        serve_settings = self.settings.profile.serve
        view = ServeView(
            sys.stdout,
            metrics=self.metrics or metrics.current(),
            live_console=None if self.json_output else live_console(),
            agent_name=serve_settings.agent_name,
        )
        engines = SharedEngines(self.settings, llm=self.llm)
        jobs = RoomJobs(
            self.settings,
            api_key=self.api_key,
            api_secret=self.api_secret,
            engines=engines,
            room_events=view.room_event,
            room_factory=self.room_factory,
        )
        worker = Worker(
            url=self.url,
            api_key=self.api_key,
            api_secret=self.api_secret,
            run_job=jobs,
            settings=serve_settings,
            cpu_load=self.cpu_load,
            on_event=view.worker_event,
            participant_name=self.settings.profile.livekit.name,
        )
        try:
            with view:
                return await serve_until_signalled(worker)
        finally:
            await engines.aclose()

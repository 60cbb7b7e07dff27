"""How ``va serve`` shows a worker: a live Rich view on a terminal, JSON lines otherwise.

- JSON lines (stdout is not a terminal, or ``--json``): every worker event
  (registered, job offered / started / ended, status, draining, stopped) as
  one object with its ``type``, and the events of each job's room as
  ``{"type": "room", "job": ID, "event": ...}`` (join, participants,
  transcript, turns), so a log collector sees the whole fleet's work;
- a live view: the worker (id, agent name, status, load, CPU), its jobs
  (room, state, participants, turns, age) and, from the shared metrics, the
  latency table, the buffer's hit rate and the circuit states.

:meth:`ServeView.render` is pure, so tests render it to a ``StringIO`` console.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from voice_agent_cli.rooms.worker.events import (
    Draining,
    JobEnded,
    JobOffered,
    JobStarted,
    Registered,
    StatusReported,
    Stopped,
    WorkerEvent,
    event_json,
)
from voice_agent_cli.ui.dashboard import figures

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from voice_agent_cli.observe.metrics import Metrics

#: Jobs that ended stay in the view this long, so a failure can be read.
ENDED_VISIBLE_S = 60.0
JOB_ROWS = 16


@dataclass
class JobRow:
    """What the view knows of one job."""

    id: str
    room: str
    state: str = "starting"
    started: float = field(default_factory=time.monotonic)
    ended: float | None = None
    participants: int = 0
    turns: int = 0
    detail: str = ""


class ServeView:
    """Renders worker and room events; ``with view:`` runs the live view when there is one."""

    def __init__(
        self,
        out: TextIO,
        *,
        metrics: Metrics,
        live_console: Console | None = None,
        agent_name: str = "",
    ) -> None:
        self.out = out
        self.metrics = metrics
        self.live_console = live_console
        self.agent_name = agent_name
        self.worker_id = ""
        self.server = ""
        self.status = "connecting"
        self.load = 0.0
        self.cpu = 0.0
        self.offers = 0
        self.declined = 0
        self.jobs: dict[str, JobRow] = {}
        self._live: Live | None = None

    def __enter__(self) -> ServeView:
        if self.live_console is not None:
            self._live = Live(
                self.render(),
                console=self.live_console,
                refresh_per_second=4,
                get_renderable=self.render,
                transient=False,
            )
            self._live.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    # -- events -----------------------------------------------------------------------

    def worker_event(self, event: WorkerEvent) -> None:
        """One event of the worker (the worker's ``on_event``)."""
        self._track(event)
        if self._live is None:
            self._print(event_json(event))

    def room_event(self, job_id: str, data: dict[str, Any]) -> None:
        """One event of a job's room, as ``va join --json`` would print it."""
        row = self.jobs.get(job_id)
        if row is not None:
            kind = data.get("event")
            if kind == "joined":
                row.state = "in room"
                row.participants = len(data.get("participants") or [])
            elif kind in ("participant_joined", "participant_left"):
                row.participants = int(data.get("participants") or 0)
            elif kind == "turn":
                row.turns += 1
            elif kind == "connection" and data.get("state") in ("reconnecting", "connecting"):
                row.state = str(data["state"])
        if self._live is None:
            self._print({"type": "room", "job": job_id, **data})

    def _track(self, event: WorkerEvent) -> None:
        if isinstance(event, Registered):
            self.worker_id, self.server, self.status = event.worker_id, event.server, "registered"
        elif isinstance(event, StatusReported):
            if self.status != "draining":
                self.status = event.status
            self.load, self.cpu = event.load, event.cpu
        elif isinstance(event, JobOffered):
            self.offers += 1
            if not event.accepted:
                self.declined += 1
        elif isinstance(event, JobStarted):
            self.jobs[event.job.id] = JobRow(event.job.id, event.job.room, state="joining")
        elif isinstance(event, JobEnded):
            row = self.jobs.setdefault(event.job.id, JobRow(event.job.id, event.job.room))
            row.state, row.ended, row.detail = event.status, time.monotonic(), event.error
        elif isinstance(event, Draining):
            self.status = "draining"
        elif isinstance(event, Stopped):
            self.status = "stopped"

    def _print(self, data: dict[str, Any]) -> None:
        self.out.write(json.dumps(data, ensure_ascii=False, default=str) + "\n")
        self.out.flush()

    # -- the live view ------------------------------------------------------------------

    def render(self, *, now: float | None = None) -> RenderableType:
        """The whole live view: the worker, its jobs, then the shared dashboard panels."""
        moment = time.monotonic() if now is None else now
        running = [row for row in self.jobs.values() if row.ended is None]
        header = Text.assemble(
            ("va serve", "bold"),
            f" · {self.worker_id or '(not registered)'}",
            f" · agent {self.agent_name!r}" if self.agent_name else " · automatic dispatch",
            f" · {self.server}" if self.server else "",
            "\n",
            (self.status, _STATUS_STYLE.get(self.status, "")),
            f" · load {self.load:.0%} · CPU {self.cpu:.0%} · {len(running)} job(s)"
            f" · {self.offers} offer(s), {self.declined} declined",
        )
        jobs = Table(expand=True, show_edge=False, pad_edge=False)
        for column in ("job", "room", "state", "people", "turns", "for"):
            jobs.add_column(column, no_wrap=True, overflow="ellipsis")
        shown = [
            row
            for row in self.jobs.values()
            if row.ended is None or moment - row.ended < ENDED_VISIBLE_S
        ]
        for row in shown[-JOB_ROWS:]:
            age = (row.ended or moment) - row.started
            state = Text(row.state, style=_JOB_STYLE.get(row.state, ""))
            if row.detail:
                state.append(f" ({row.detail})", style="dim")
            jobs.add_row(
                row.id, row.room, state, str(row.participants), str(row.turns), f"{age:.0f} s"
            )
        if not shown:
            jobs.add_row("[dim]no jobs yet[/]", "", "", "", "", "")
        return Group(
            header,
            Panel(jobs, title="jobs", border_style="blue"),
            figures(self.metrics.as_json()),
        )


_STATUS_STYLE = {
    "available": "green",
    "registered": "green",
    "full": "yellow",
    "draining": "yellow",
    "connecting": "yellow",
    "stopped": "dim",
}
_JOB_STYLE = {"in room": "green", "joining": "yellow", "success": "dim", "failed": "red"}

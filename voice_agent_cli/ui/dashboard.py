"""The live dashboard of ``va chat --dashboard``, ``va talk`` and ``va join``.

It shows what :class:`~voice_agent_cli.observe.metrics.Metrics` knows, read from
:meth:`~voice_agent_cli.observe.metrics.Metrics.as_json` at each refresh:

- latency: the last turn and p50/p95/p99 of each stage (LiveKit's names first);
- the buffer's hit rate per layer (pre-buffered replies, reply cache);
- circuit states: whatever breakers report (LLM, MCP servers, experts);
- recent events: turns, tool calls, notices, circuit transitions.

On a terminal it is a :class:`rich.live.Live` whose panels keep a fixed height
(missing rows are padded), so a refresh redraws in place without flicker or
jumps. Elsewhere (a pipe, a CI log) it degrades to one plain line per event.
:func:`render` is pure, so tests render it to a ``StringIO`` console.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import TYPE_CHECKING, Any

from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

if TYPE_CHECKING:
    from voice_agent_cli.observe.metrics import MetricEvent, Metrics

#: Stages always shown, in pipeline order (LiveKit Agents' names where one exists).
CORE_STAGES = (
    "end_of_turn_delay",
    "transcription_delay",
    "buffer_lookup",
    "llm_ttft",
    "tool_time",
    "expert_time",
    "tts_ttfb",
    "e2e_latency",
    "total",
)
EVENT_ROWS = 8
CIRCUIT_ROWS = 4
_STATE_STYLES = {"closed": "green", "half_open": "yellow", "open": "bold red"}
_EVENT_STYLES = {"notice": "yellow", "error": "red", "circuit": "magenta", "tool": "cyan"}


def _ms(value: Any) -> str:
    if value is None:
        return "-"
    if value >= 100:
        return f"{value:,.0f}"
    return f"{value:.1f}" if value >= 1 else f"{value:.2f}"


def latency_table(snapshot: dict[str, Any]) -> Table:
    """Stage | last | p50 | p95 | p99 | n, in milliseconds ("last": the latest sample)."""
    table = Table(expand=True, box=None, pad_edge=False)
    table.add_column("stage", no_wrap=True)
    for name in ("last", "p50", "p95", "p99"):
        table.add_column(name, justify="right", no_wrap=True)
    table.add_column("n", justify="right", no_wrap=True)
    stages: dict[str, Any] = snapshot.get("stages", {})
    extra = sorted(name for name in stages if name not in CORE_STAGES and name != "tool_call")
    for stage in (*CORE_STAGES, *extra):
        figures = stages.get(stage) or {}
        table.add_row(
            Text(stage),
            _ms(figures.get("last_ms")),
            _ms(figures.get("p50_ms")),
            _ms(figures.get("p95_ms")),
            _ms(figures.get("p99_ms")),
            str(figures.get("n", 0)) if figures else "-",
            style=None if figures else "dim",
        )
    return table


def cache_table(snapshot: dict[str, Any]) -> Table:
    """Layer | hits | misses | hit rate."""
    table = Table(expand=True, box=None, pad_edge=False)
    table.add_column("layer", no_wrap=True)
    table.add_column("hits", justify="right")
    table.add_column("misses", justify="right")
    table.add_column("hit rate", justify="right")
    cache = snapshot.get("cache", {})
    for layer in ("prebuffered", "cache"):
        figures = cache.get(layer) or {}
        table.add_row(
            layer,
            f"{figures.get('hits', 0):g}",
            f"{figures.get('misses', 0):g}",
            _rate(figures.get("hit_rate")),
        )
    overall = cache.get("overall") or {}
    lookups = overall.get("lookups", 0)
    table.add_row(
        "all",
        f"{overall.get('hits', 0):g}",
        f"{lookups - overall.get('hits', 0):g}",
        _rate(overall.get("hit_rate")),
        style="bold",
    )
    return table


def _rate(value: Any) -> str:
    return "-" if value is None else f"{value * 100:.0f} %"


def circuit_table(snapshot: dict[str, Any], *, now: float | None = None) -> Table:
    """Circuit | state | for how long."""
    table = Table(expand=True, box=None, pad_edge=False)
    table.add_column("circuit", no_wrap=True, overflow="ellipsis", ratio=1)
    table.add_column("state", no_wrap=True, min_width=9)
    table.add_column("for", justify="right", no_wrap=True)
    circuits: dict[str, Any] = snapshot.get("circuits", {})
    now = time.time() if now is None else now
    rows = sorted(circuits.items())
    for name, circuit in rows[:CIRCUIT_ROWS]:
        state = str(circuit.get("state", "?"))
        since = max(0.0, now - float(circuit.get("since", now)))
        # Text, not str: names such as "llm:gemini:..." must not become emoji codes.
        table.add_row(Text(name), Text(state, style=_STATE_STYLES.get(state, "")), f"{since:.0f} s")
    if not rows:
        table.add_row(Text("none reported yet", style="dim"), "", "")
    if len(rows) > CIRCUIT_ROWS:
        table.add_row(Text(f"... {len(rows) - CIRCUIT_ROWS} more", style="dim"), "", "")
    for _ in range(CIRCUIT_ROWS - max(1, len(rows))):
        table.add_row("", "", "")
    return table


def events_table(snapshot: dict[str, Any]) -> Table:
    """The most recent events, oldest first, padded to a fixed height."""
    table = Table(expand=True, box=None, pad_edge=False, show_header=False)
    table.add_column("time", no_wrap=True, style="dim", width=8)
    table.add_column("event", overflow="ellipsis", no_wrap=True)
    events = list(snapshot.get("events", []))[-EVENT_ROWS:]
    for event in events:
        clock = time.strftime("%H:%M:%S", time.localtime(event["at"]))
        table.add_row(clock, Text(event["message"], style=_EVENT_STYLES.get(event["kind"], "")))
    for _ in range(EVENT_ROWS - len(events)):
        table.add_row("", "")
    return table


def header(snapshot: dict[str, Any], title: str) -> Text:
    """One line: title, turns, sessions, errors, uptime, and who wrote the last reply."""
    turns = sum(entry["value"] for entry in snapshot.get("counters", {}).get("turns", []))
    errors = sum(snapshot.get("errors", {}).values())
    sessions = snapshot.get("sessions", {}).get("active", 0)
    text = Text()
    text.append(title, style="bold")
    text.append(
        f"   turns {turns:g}   active sessions {sessions:g}   errors {errors:g}"
        f"   up {snapshot.get('uptime_s', 0):.0f} s",
        style="dim",
    )
    answered_by = (snapshot.get("last_turn") or {}).get("llm")
    if answered_by:
        text.append("   last reply by ", style="dim")
        text.append(str(answered_by), style="bold")
    return text


def figures(snapshot: dict[str, Any]) -> RenderableType:
    """The panels every live view shares: latency, buffer hit rate, circuits."""
    grid = Table.grid(expand=True)
    grid.add_column(ratio=3)
    grid.add_column(ratio=2)
    grid.add_row(
        Panel(latency_table(snapshot), title="latency (ms)", border_style="blue"),
        Group(
            Panel(cache_table(snapshot), title="buffer hit rate", border_style="green"),
            Panel(circuit_table(snapshot), title="circuits", border_style="magenta"),
        ),
    )
    return grid


def render(snapshot: dict[str, Any], *, title: str = "va") -> RenderableType:
    """The whole dashboard for one metrics snapshot."""
    return Group(
        header(snapshot, title),
        figures(snapshot),
        Panel(events_table(snapshot), title="recent events", border_style="white"),
    )


def plain_line(event: MetricEvent) -> str:
    """An event as one line, for logs and pipes."""
    clock = time.strftime("%H:%M:%S", time.localtime(event.at))
    return f"{clock} [{event.kind}] {event.message}"


class LiveDashboard:
    """A live view of ``metrics`` on ``console`` (default: stderr) for a ``with`` block.

    On a terminal: a Rich Live display refreshed a few times a second (and on
    :meth:`refresh`). Not on a terminal: one plain line per metrics event.
    """

    def __init__(
        self,
        metrics: Metrics,
        console: Console | None = None,
        *,
        title: str = "va",
        refresh_per_second: float = 4,
    ) -> None:
        self.metrics = metrics
        self.console = console or Console(stderr=True, highlight=False)
        self.title = title
        self.refresh_per_second = refresh_per_second
        self._live: Live | None = None
        self._unsubscribe: Any = None

    @property
    def live(self) -> bool:
        """Whether this is the live view: both the console and stdout are terminals.

        With stdout piped, Live would redirect the command's output (replies)
        into the terminal, so plain lines are used instead.
        """
        return self.console.is_terminal and sys.stdout.isatty()

    def renderable(self) -> RenderableType:
        """The dashboard as it is now."""
        return render(self.metrics.as_json(), title=self.title)

    def start(self) -> None:
        """Begin showing the dashboard."""
        if self.live:
            self._live = Live(
                console=self.console,
                get_renderable=self.renderable,
                refresh_per_second=self.refresh_per_second,
                # Replies printed meanwhile scroll above the panels.
                redirect_stdout=True,
                redirect_stderr=True,
            )
            self._live.start()
        else:
            self._unsubscribe = self.metrics.subscribe(self._print_event)

    def refresh(self) -> None:
        """Redraw now (after a turn) instead of at the next tick."""
        if self._live is not None:
            self._live.refresh()

    def stop(self) -> None:
        """Stop showing it (the last frame stays on the terminal)."""
        if self._live is not None:
            self._live.stop()
            self._live = None
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None

    def _print_event(self, event: MetricEvent) -> None:
        self.console.print(plain_line(event), markup=False, highlight=False, soft_wrap=True)

    def __enter__(self) -> LiveDashboard:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self.stop()

"""How ``va join`` shows a room: a live Rich view, plain lines, or JSON.

- on a terminal, a live view: the connection state and the agent's state;
  the participants (microphone, speaking, listened to, turns); the transcript
  of everyone and of the agent; and, from the shared metrics, the latency
  table, the buffer's hit rate and the circuit states of
  :mod:`voice_agent_cli.ui.dashboard`;
- otherwise plain lines: transcript lines (``alice: ...`` /
  ``va → alice: ...``) on stdout, connection and participant changes on stderr;
- with ``--json``, one JSON object per event or turn on stdout, nothing else there.

:meth:`JoinView.render` is pure, so tests render it to a ``StringIO`` console.
"""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING, Any, TextIO

from rich.console import Group
from rich.live import Live
from rich.markup import escape
from rich.panel import Panel
from rich.table import Table
from rich.text import Text

from voice_agent_cli.contracts.events import Notice
from voice_agent_cli.rooms.events import (
    ConnectionChanged,
    ParticipantJoined,
    ParticipantLeft,
    ParticipantVoice,
    RoomEvent,
    event_json,
)
from voice_agent_cli.speech.events import (
    AgentText,
    BargeIn,
    UserSpeaking,
    UserTranscript,
    VoiceTurn,
)
from voice_agent_cli.ui.dashboard import figures
from voice_agent_cli.ui.talk_view import format_timings

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from voice_agent_cli.observe.metrics import Metrics
    from voice_agent_cli.rooms.participants import ParticipantState

_STATE_STYLE = {
    "connected": "green",
    "connecting": "yellow",
    "reconnecting": "yellow",
    "disconnected": "red",
    "failed": "bold red",
}
_VOICE_STYLE = {"listening": "green", "thinking": "yellow", "speaking": "cyan"}
PARTICIPANT_ROWS = 12
TRANSCRIPT_ROWS = 8


class JoinView:
    """Renders room events; use as a context manager (it owns the live display)."""

    def __init__(
        self,
        out: TextIO,
        err: Console,
        *,
        room: str,
        agent: str,
        metrics: Metrics,
        participants: Any = None,
        json_output: bool = False,
        live_console: Console | None = None,
        policy: str = "",
        max_lines: int = 12,
    ) -> None:
        self.out = out
        self.err = err
        self.room = room
        self.agent = agent
        self.metrics = metrics
        #: The room's RoomParticipants (read at each refresh), set once joined.
        self.participants = participants
        self.json_output = json_output
        self.live_console = live_console
        self.policy = policy
        self.state = "connecting"
        self.state_detail = ""
        self.agent_state = "initializing"
        self.lines: deque[tuple[str, str, bool]] = deque(maxlen=max_lines)
        self._live: Live | None = None
        self._joined = False

    def __enter__(self) -> JoinView:
        # The live view starts once the agent is in the room (joined()): a failure to
        # join stays the one line of the command's error.
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.refresh()
            self._live.stop()
            self._live = None

    # -- events ----------------------------------------------------------------------------

    def joined(self, *, connect_ms: float | None, people: list[str]) -> None:
        """The agent is in the room: say who else is, and start the live view."""
        self._joined = True
        if self.live_console is not None and not self.json_output and self._live is None:
            self._live = Live(
                get_renderable=self.render,
                console=self.live_console,
                refresh_per_second=4,
                transient=False,
            )
            self._live.start()
            return
        if self.json_output:
            self._print_json(
                {
                    "event": "joined",
                    "room": self.room,
                    "identity": self.agent,
                    "connect_ms": None if connect_ms is None else round(connect_ms, 1),
                    "participants": people,
                }
            )
            return
        took = f" in {connect_ms:.0f} ms" if connect_ms is not None else ""
        who = ", ".join(people) if people else "nobody else yet"
        self._note(f"joined room {self.room!r} as {self.agent}{took}; in the room: {who}")

    def note(self, message: str, level: str = "info") -> None:
        """A line outside the transcript (loading, leaving)."""
        self.show(Notice(message, level))  # type: ignore[arg-type]

    def show(self, event: RoomEvent) -> None:
        """Update the view with one room event."""
        if self.json_output:
            data = event_json(event)
            if data is not None:
                self._print_json(data)
            self._track(event)
            return
        self._track(event)
        if self._live is None:
            self._print_plain(event)
        elif not (
            isinstance(event, ParticipantVoice)
            and isinstance(event.event, AgentText | UserSpeaking)
        ):
            # Streaming pieces wait for the next tick (4 a second): no redraw per token.
            self._live.refresh()

    def _track(self, event: RoomEvent) -> None:
        if isinstance(event, ConnectionChanged):
            self.state, self.state_detail = event.state, event.describe()
        elif isinstance(event, ParticipantVoice):
            inner = event.event
            if isinstance(inner, UserTranscript):
                self.lines.append((event.identity, inner.text, False))
            elif isinstance(inner, VoiceTurn) and (inner.reply or inner.interrupted):
                self.lines.append(
                    (f"{self.agent} → {event.identity}", inner.reply, inner.interrupted)
                )
            elif isinstance(inner, Notice):
                self.lines.append(("note", f"{event.identity}: {inner.message}", False))
        elif isinstance(event, Notice):
            self.lines.append(("note", event.message, False))

    def _print_plain(self, event: RoomEvent) -> None:
        if isinstance(event, ConnectionChanged):
            # Before the first join the outcome is the joined line or the command's error.
            if self._joined:
                colour = _STATE_STYLE.get(event.state, "dim")
                self.err.print(f"[{colour}]room {escape(event.describe())}[/]", soft_wrap=True)
        elif isinstance(event, ParticipantJoined):
            self._note(f"{event.identity} joined ({event.count} in the room)")
        elif isinstance(event, ParticipantLeft):
            self._note(f"{event.identity} left ({event.count} in the room)")
        elif isinstance(event, Notice):
            colour = {"warning": "yellow", "error": "red"}.get(event.level, "dim")
            self.err.print(f"[{colour}]va: {escape(event.message)}[/]", soft_wrap=True)
        elif isinstance(event, ParticipantVoice):
            self._print_voice(event)

    def _print_voice(self, wrapped: ParticipantVoice) -> None:
        event, who = wrapped.event, wrapped.identity
        if isinstance(event, UserTranscript):
            self._print_line(f"{who}: {event.text}")
        elif isinstance(event, VoiceTurn) and (event.reply or event.interrupted):
            mark = " [interrupted]" if event.interrupted else ""
            self._print_line(f"{self.agent} → {who}: {event.reply}{mark}")
            timings = format_timings(event.timings)
            if timings:
                self.err.print(f"[dim]   {timings}[/]", soft_wrap=True)
        elif isinstance(event, BargeIn):
            self._note(f"{who} spoke over the agent: its reply was cut")
        elif isinstance(event, Notice):
            colour = {"warning": "yellow", "error": "red"}.get(event.level, "dim")
            self.err.print(
                f"[{colour}]va: {escape(who)}: {escape(event.message)}[/]", soft_wrap=True
            )

    def _note(self, message: str) -> None:
        if self._live is None and not self.json_output:
            self.err.print(f"[dim]{escape(message)}[/]", soft_wrap=True)

    def _print_line(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def _print_json(self, data: dict[str, Any]) -> None:
        self._print_line(json.dumps(data, ensure_ascii=False, default=str))

    # -- the live view -----------------------------------------------------------------------

    def render(self) -> RenderableType:
        """The whole view: header, participants and transcript, then the dashboard panels."""
        people = Table.grid(expand=True)
        people.add_column(ratio=2)
        people.add_column(ratio=3)
        people.add_row(
            Panel(self._participants_table(), title="participants", border_style="blue"),
            Panel(self._transcript(), title="transcript", border_style="cyan"),
        )
        return Group(self._header(), people, figures(self.metrics.as_json()))

    def _header(self) -> Any:
        text = Text()
        text.append(f"va join · room {self.room} · {self.agent}", style="bold")
        text.append("   ")
        text.append(f"● {self.state}", style=_STATE_STYLE.get(self.state, "white"))
        text.append(f"   agent {self._agent_state()}", style="dim")
        if self.policy:
            text.append(f"   {self.policy}", style="dim")
        if self.state not in ("connected", "connecting") and self.state_detail:
            text.append(f"\n  {self.state_detail}", style="yellow")
        text.append("\n  Ctrl-C to leave", style="dim")
        return text

    def _agent_state(self) -> str:
        people = list(self.participants) if self.participants is not None else []
        states = {p.voice_state for p in people}
        for state in ("speaking", "thinking"):
            if state in states:
                return state
        return "listening"

    def _participants_table(self) -> Any:
        table = Table(expand=True, box=None, pad_edge=False)
        table.add_column("who", no_wrap=True, overflow="ellipsis")
        table.add_column("mic", justify="center", no_wrap=True)
        table.add_column("state", no_wrap=True)
        table.add_column("turns", justify="right", no_wrap=True)
        people: list[ParticipantState] = list(self.participants) if self.participants else []
        for person in people[:PARTICIPANT_ROWS]:
            name = Text(person.identity, style="bold" if person.speaking else "")
            if person.speaking:
                name.append(" ◂ speaking", style="green")
            if person.kind != "standard":
                name.append(f" ({person.kind})", style="dim")
            if person.listening:
                state = person.voice_state or "listening"
            else:
                state = "ignored" if person.microphone else "no mic"
            table.add_row(
                name,
                "●" if person.microphone else "-",
                Text(state or "listening", style=_VOICE_STYLE.get(state, "dim")),
                str(person.turns),
            )
        if not people:
            table.add_row(Text("nobody else yet", style="dim"), "", "", "")
        if len(people) > PARTICIPANT_ROWS:
            table.add_row(
                Text(f"... {len(people) - PARTICIPANT_ROWS} more", style="dim"), "", "", ""
            )
        return table

    def _transcript(self) -> Any:
        text = Text()
        for who, line, interrupted in self.lines:
            if text:
                text.append("\n")
            if who == "note":
                text.append(f"  {line}", style="dim")
                continue
            agent_line = who.startswith(self.agent)
            text.append(f"{who}: ", style="bold cyan" if agent_line else "bold magenta")
            text.append(line)
            if interrupted:
                text.append("  [interrupted]", style="dim red")
        if not text:
            text.append("Waiting for someone to speak...", style="dim")
        # A fixed height: the panels below do not jump as lines arrive.
        text.append("\n" * max(0, TRANSCRIPT_ROWS - len(self.lines) - 1))
        return text

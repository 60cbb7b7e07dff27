"""How ``va talk`` shows a voice conversation: a live Rich view, plain lines, or JSON.

- on a terminal, a live view: the transcript of both sides, the agent's state
  (listening / thinking / speaking) and the timings of the last turn;
- otherwise plain lines (``you: ...`` / ``va: ...``) on stdout, timings on stderr;
- with ``--json``, one JSON object per turn on stdout and nothing else there.
"""

from __future__ import annotations

import json
from collections import deque
from typing import TYPE_CHECKING, TextIO

from rich.console import Group
from rich.live import Live
from rich.panel import Panel
from rich.text import Text

from voice_agent_cli.contracts.events import Notice
from voice_agent_cli.speech.events import (
    AgentText,
    BargeIn,
    StateChanged,
    UserTranscript,
    VoiceEvent,
    VoiceTurn,
)
from voice_agent_cli.ui.dashboard import figures

if TYPE_CHECKING:
    from rich.console import Console, RenderableType

    from voice_agent_cli.observe.metrics import Metrics

#: Timings shown for each turn, with their short labels.
TIMING_LABELS = (
    ("e2e_latency", "e2e"),
    ("end_of_turn_delay", "end of turn"),
    ("transcription_delay", "stt"),
    ("llm_ttft", "llm ttft"),
    ("tts_ttfb", "tts ttfb"),
)

_STATE_STYLE = {"listening": "green", "thinking": "yellow", "speaking": "cyan"}


def format_timings(timings: dict[str, float]) -> str:
    """``e2e 540 ms · end of turn 448 · stt 512 ...`` (stages that were measured)."""
    parts: list[str] = []
    for key, label in TIMING_LABELS:
        if key in timings:
            unit = " ms" if not parts else ""
            parts.append(f"{label} {timings[key]:.0f}{unit}")
    return " · ".join(parts)


class TalkView:
    """Renders voice events; use as a context manager (it owns the live display)."""

    def __init__(
        self,
        out: TextIO,
        err: Console,
        *,
        json_output: bool = False,
        live_console: Console | None = None,
        header: str = "",
        max_lines: int = 14,
        metrics: Metrics | None = None,
    ) -> None:
        #: Shown below the transcript in the live view (latency, hit rate, circuits).
        self.metrics = metrics
        self.out = out
        self.err = err
        self.json_output = json_output
        self.live_console = live_console
        self.header = header
        self.state = "listening"
        self.lines: deque[tuple[str, str, bool]] = deque(maxlen=max_lines)
        self.partial = ""
        self.last_timings: dict[str, float] = {}
        self.turns = 0
        self._live: Live | None = None

    def __enter__(self) -> TalkView:
        if self.live_console is not None and not self.json_output:
            self._live = Live(
                self.render(), console=self.live_console, refresh_per_second=12, transient=False
            )
            self._live.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._live is not None:
            self._live.update(self.render())
            self._live.__exit__(None, None, None)
            self._live = None

    def notice(self, message: str, level: str = "info") -> None:
        """A line outside the transcript."""
        self.show(Notice(message, level))  # type: ignore[arg-type]

    def show(self, event: VoiceEvent) -> None:
        """Update the view with one event."""
        if isinstance(event, StateChanged):
            self.state = event.state
            if event.state == "listening":
                self.partial = ""
        elif isinstance(event, UserTranscript):
            self.lines.append(("you", event.text, False))
            if self._plain():
                self._print_line(f"you: {event.text}")
        elif isinstance(event, AgentText):
            self.partial += event.text
        elif isinstance(event, BargeIn):
            self.partial = ""
        elif isinstance(event, VoiceTurn):
            self._on_turn(event)
        elif isinstance(event, Notice):
            if self._live is None:
                colour = {"warning": "yellow", "error": "red"}.get(event.level, "dim")
                self.err.print(f"[{colour}]va: {event.message}[/]")
            else:
                self.lines.append(("note", event.message, False))
        if self._live is not None:
            self._live.update(self.render())

    def _on_turn(self, turn: VoiceTurn) -> None:
        self.turns += 1
        self.partial = ""
        self.last_timings = turn.timings
        self.lines.append(("va", turn.reply, turn.interrupted))
        if self.json_output:
            self._print_line(json.dumps(turn.as_json(), ensure_ascii=False, default=str))
        elif self._plain():
            mark = " [interrupted]" if turn.interrupted else ""
            self._print_line(f"va: {turn.reply}{mark}")
            timings = format_timings(turn.timings)
            if timings:
                self.err.print(f"[dim]   {timings}[/]")

    def _plain(self) -> bool:
        return self._live is None and not self.json_output

    def _print_line(self, line: str) -> None:
        self.out.write(line + "\n")
        self.out.flush()

    def render(self) -> RenderableType:
        """The live view: transcript panel, state and last timings."""
        transcript = Text()
        for who, text, interrupted in self.lines:
            if transcript:
                transcript.append("\n")
            if who == "note":
                transcript.append(f"  {text}", style="dim")
                continue
            transcript.append(f"{who:>3}: ", style="bold magenta" if who == "you" else "bold cyan")
            transcript.append(text)
            if interrupted:
                transcript.append("  [interrupted]", style="dim red")
        if self.partial and self.state != "listening":
            if transcript:
                transcript.append("\n")
            transcript.append(" va: ", style="bold cyan")
            transcript.append(self.partial, style="dim")
        if not transcript:
            transcript.append("Say something...", style="dim")
        status = Text()
        status.append("● ", style=_STATE_STYLE.get(self.state, "white"))
        status.append(f"{self.state:<10}", style="bold")
        timings = format_timings(self.last_timings)
        if timings:
            status.append(f"  turn {self.turns}: {timings}", style="dim")
        status.append("\n  Ctrl-C to quit", style="dim")
        panel = Panel(transcript, title=self.header or "va talk", title_align="left")
        if self.metrics is None:
            return Group(panel, status)

        return Group(panel, status, figures(self.metrics.as_json()))

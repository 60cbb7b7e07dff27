"""How ``va chat`` shows a turn: the reply streamed as it is generated, or one JSON object.

- text: the reply's deltas on stdout as they come (after the ``va:`` label),
  notices, tool calls and fillers dimmed on stderr (those only on a terminal);
- ``--json``: one JSON object per turn on stdout and nothing else there, also
  for a turn that failed (its partial reply, the error and its exit code).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, TextIO

from voice_agent_cli.contracts.events import (
    FillerSpeech,
    Notice,
    TextDelta,
    ToolCallFinished,
    ToolCallStarted,
    TurnCompleted,
    TurnEvent,
)
from voice_agent_cli.errors import LLMNoAnswer, VAError
from voice_agent_cli.text import clean_text, json_line

if TYPE_CHECKING:
    from rich.console import Console


class ChatTurnView:
    """Prints one turn: deltas as they come (text mode) or one JSON object (--json)."""

    def __init__(
        self, json_output: bool, out: TextIO, err: Console, label: str, session: str | None = None
    ) -> None:
        self.json_output = json_output
        #: The session id each JSON object carries (None: sessions are off).
        self.session = session
        self.out = out
        self.err = err
        self.label = label
        self._started = False
        #: What was said and called so far, for the JSON object of a turn that fails.
        self._said: list[str] = []
        self._tools: list[str] = []

    def failed(self, user: str, error: VAError, llm: str) -> None:
        """End a turn that failed: a newline after a partial reply, or the JSON object."""
        if not self.json_output:
            if self._started:
                self.out.write("\n")
                self.out.flush()
            return
        self._json(
            {
                "turn_id": error.turn_id,
                "user": user,
                "reply": "".join(self._said),
                "source": "llm",
                "llm": llm,
                "tool_calls": self._tools,
                "interrupted": bool(self._said),
                "timings": {},
                "error": str(error),
                "error_type": type(error).__name__,
                "exit_code": error.exit_code,
                **({"reason": error.reason} if isinstance(error, LLMNoAnswer) else {}),
                **self._session_field(),
            }
        )

    def _json(self, data: object) -> None:
        self.out.write(json_line(data) + "\n")
        self.out.flush()

    def _session_field(self) -> dict[str, str]:
        return {"session": self.session} if self.session is not None else {}

    def show(self, event: TurnEvent) -> None:
        """Print ``event``: a delta as it comes, a notice on stderr, the turn's end."""
        if isinstance(event, TurnCompleted):
            if self.json_output:
                self._json({**event.as_json(), **self._session_field()})
                return
            if self._started:
                self.out.write("\n")
                self.out.flush()
            consulted = event.details.get("experts")
            if consulted and self.err.is_terminal:
                summary = ", ".join(
                    f"{e['name']} {e['ms']:.0f} ms" + ("" if e["ok"] else " (failed)")
                    for e in consulted
                )
                self.err.print(f"[dim](experts: {summary})[/]")
        elif isinstance(event, Notice):
            self.err.print(f"[yellow]va:[/] {event.message}", soft_wrap=True)
        elif self.json_output:
            if isinstance(event, TextDelta):
                self._said.append(event.text)
            elif isinstance(event, ToolCallStarted):
                self._tools.append(event.call.name)
            return
        elif isinstance(event, TextDelta):
            if not self._started:
                self.out.write(self.label)
                self._started = True
            self.out.write(clean_text(event.text))  # a provider's lone surrogate, say
            self.out.flush()
        elif isinstance(event, ToolCallStarted) and self.err.is_terminal:
            self.err.print(f"[dim](calling {event.call.name})[/]")
        elif isinstance(event, FillerSpeech) and self.err.is_terminal:
            self.err.print(event.text, style="dim", markup=False, highlight=False)
        elif isinstance(event, ToolCallFinished) and event.result.is_error:
            self.err.print(f"[dim](tool {event.call.name} failed: {event.result.text})[/]")

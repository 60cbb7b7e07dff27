"""va's own MCP server: useful tools that work offline.

Run it as ``python -m voice_agent_cli.tools.server`` (or ``va tools serve``);
it speaks MCP over stdio, so any MCP client can use it, and the default
profile starts it for the agent. Tools:

- ``now``: the local date and time, or the time in an IANA time zone;
- ``calculate``: arithmetic, parsed safely (no ``eval``);
- ``add_note``, ``list_notes``, ``search_notes``, ``delete_note``: a notes
  store in ``VA_HOME``.

Each tool answers with a sentence a voice can say (the text content) and the
same facts as structured content. Failures are tool errors (``is_error``) with
a message that tells the LLM what to fix.

This module imports the ``mcp`` SDK at once (the SDK reads the tools' type
hints at registration), so only the server process and tests import it.
"""

from __future__ import annotations

from typing import Annotated, Any

from mcp.server.mcpserver import MCPServer
from mcp.types import CallToolResult, TextContent, ToolAnnotations
from pydantic import Field

from voice_agent_cli import __version__
from voice_agent_cli.tools.calculator import CalculatorError, evaluate, format_number
from voice_agent_cli.tools.clock import UnknownTimeZone, describe, now
from voice_agent_cli.tools.notes import Note, NoteError, NotesStore

INSTRUCTIONS = (
    "Offline tools of the va voice agent: the current date and time, a calculator, "
    "and the user's notes."
)


def _answer(text: str, structured: dict[str, Any] | None = None) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=text)], structured_content=structured)


def _refuse(message: str) -> CallToolResult:
    return CallToolResult(content=[TextContent(text=message)], is_error=True)


def _say_notes(notes: list[Note], empty: str) -> CallToolResult:
    if not notes:
        return _answer(empty, {"notes": []})
    lines = [f"Note {note.id}: {note.text}" for note in notes]
    return _answer("\n".join(lines), {"notes": [note.as_dict() for note in notes]})


def build_server(store: NotesStore | None = None) -> MCPServer:
    """The server with its tools registered (``store`` defaults to ``VA_HOME``'s notes)."""
    server: MCPServer = MCPServer(
        "va", instructions=INSTRUCTIONS, version=__version__, log_level="WARNING"
    )
    notes = store or NotesStore()
    reads = ToolAnnotations(read_only_hint=True, idempotent_hint=True, open_world_hint=False)
    writes = ToolAnnotations(read_only_hint=False, destructive_hint=False, open_world_hint=False)

    @server.tool(name="now", annotations=reads)
    def current_time(
        timezone: Annotated[
            str | None,
            Field(description="IANA time zone such as Europe/Paris; omit for local time"),
        ] = None,
    ) -> CallToolResult:
        """The current date and time: local, or in a given time zone."""
        try:
            moment = now(timezone)
        except UnknownTimeZone as exc:
            return _refuse(str(exc))
        return _answer(describe(moment), moment)

    @server.tool(annotations=reads)
    def calculate(
        expression: Annotated[
            str, Field(description="arithmetic such as (12.5 * 3) / 4 or sqrt(2) ^ 3")
        ],
    ) -> CallToolResult:
        """Compute an arithmetic expression exactly (+ - * / ^ %, sqrt, sin, log ...)."""
        try:
            value = evaluate(expression)
        except CalculatorError as exc:
            return _refuse(str(exc))
        shown = format_number(value)
        return _answer(
            f"{expression.strip()} = {shown}", {"expression": expression, "result": value}
        )

    @server.tool(annotations=writes)
    def add_note(
        text: Annotated[str, Field(description="what to remember, in the user's words")],
    ) -> CallToolResult:
        """Save a note for the user."""
        try:
            note = notes.add(text)
        except NoteError as exc:
            return _refuse(str(exc))
        return _answer(f"Saved note {note.id}: {note.text}", note.as_dict())

    @server.tool(annotations=reads)
    def list_notes(
        limit: Annotated[int, Field(ge=1, le=100, description="how many notes")] = 10,
    ) -> CallToolResult:
        """The user's latest notes, newest first."""
        return _say_notes(notes.latest(limit), "There are no notes yet.")

    @server.tool(annotations=reads)
    def search_notes(
        query: Annotated[str, Field(description="words the note contains")],
    ) -> CallToolResult:
        """Find the user's notes that contain some words."""
        return _say_notes(notes.search(query), f"No note mentions {query.strip()!r}.")

    @server.tool(annotations=writes)
    def delete_note(
        note_id: Annotated[int, Field(description="the number of the note")],
    ) -> CallToolResult:
        """Delete one of the user's notes by its number."""
        if notes.delete(note_id):
            return _answer(f"Deleted note {note_id}.", {"deleted": note_id})
        return _refuse(f"there is no note {note_id}")

    return server


def main() -> None:
    """Serve the tools over stdio until the client closes stdin."""
    build_server().run("stdio")


if __name__ == "__main__":
    main()

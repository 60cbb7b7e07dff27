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

It runs on :mod:`.stdio_server` (the standard library only), not on the
``mcp`` SDK's server, and imports nothing heavy: it is started with every
agent, and must be up within its start-up timeout on a busy machine.
"""

from __future__ import annotations

from typing import Any

from voice_agent_cli import __version__
from voice_agent_cli.tools.calculator import CalculatorError, evaluate, format_number
from voice_agent_cli.tools.clock import UnknownTimeZone, describe, now
from voice_agent_cli.tools.notes import Note, NoteError, NotesStore
from voice_agent_cli.tools.stdio_server import StdioServer, Tool, ToolAnswer

INSTRUCTIONS = (
    "Offline tools of the va voice agent: the current date and time, a calculator, "
    "and the user's notes."
)

_READS = {"readOnlyHint": True, "idempotentHint": True, "openWorldHint": False}
_WRITES = {"readOnlyHint": False, "destructiveHint": False, "openWorldHint": False}


def _schema(properties: dict[str, Any], required: tuple[str, ...] = ()) -> dict[str, Any]:
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = list(required)
    return schema


def _say_notes(notes: list[Note], empty: str) -> ToolAnswer:
    if not notes:
        return ToolAnswer(empty, {"notes": []})
    lines = [f"Note {note.id}: {note.text}" for note in notes]
    return ToolAnswer("\n".join(lines), {"notes": [note.as_dict() for note in notes]})


def build_tools(store: NotesStore | None = None) -> list[Tool]:
    """va's tools (``store`` defaults to ``VA_HOME``'s notes)."""
    notes = store or NotesStore()

    def current_time(timezone: str | None = None) -> ToolAnswer:
        try:
            moment = now(timezone)
        except UnknownTimeZone as exc:
            return ToolAnswer(str(exc), is_error=True)
        return ToolAnswer(describe(moment), moment)

    def calculate(expression: str) -> ToolAnswer:
        try:
            value = evaluate(expression)
        except CalculatorError as exc:
            return ToolAnswer(str(exc), is_error=True)
        shown = format_number(value)
        return ToolAnswer(
            f"{expression.strip()} = {shown}", {"expression": expression, "result": value}
        )

    def add_note(text: str) -> ToolAnswer:
        try:
            note = notes.add(text)
        except NoteError as exc:
            return ToolAnswer(str(exc), is_error=True)
        return ToolAnswer(f"Saved note {note.id}: {note.text}", note.as_dict())

    def list_notes(limit: int = 10) -> ToolAnswer:
        try:
            return _say_notes(notes.latest(limit), "There are no notes yet.")
        except NoteError as exc:
            return ToolAnswer(str(exc), is_error=True)

    def search_notes(query: str) -> ToolAnswer:
        try:
            return _say_notes(notes.search(query), f"No note mentions {query.strip()!r}.")
        except NoteError as exc:
            return ToolAnswer(str(exc), is_error=True)

    def delete_note(note_id: int) -> ToolAnswer:
        try:
            deleted = notes.delete(note_id)
        except NoteError as exc:
            return ToolAnswer(str(exc), is_error=True)
        if deleted:
            return ToolAnswer(f"Deleted note {note_id}.", {"deleted": note_id})
        return ToolAnswer(f"there is no note {note_id}", is_error=True)

    timezone = {
        "anyOf": [{"type": "string"}, {"type": "null"}],
        "default": None,
        "description": "IANA time zone such as Europe/Paris; omit for local time",
    }
    return [
        Tool(
            "now",
            "The current date and time: local, or in a given time zone.",
            _schema({"timezone": timezone}),
            current_time,
            _READS,
        ),
        Tool(
            "calculate",
            "Compute an arithmetic expression exactly (+ - * / ^ %, sqrt, sin, log ...).",
            _schema(
                {
                    "expression": {
                        "type": "string",
                        "description": "arithmetic such as (12.5 * 3) / 4 or sqrt(2) ^ 3",
                    }
                },
                ("expression",),
            ),
            calculate,
            _READS,
        ),
        Tool(
            "add_note",
            "Save a note for the user.",
            _schema(
                {
                    "text": {
                        "type": "string",
                        "description": "what to remember, in the user's words",
                    }
                },
                ("text",),
            ),
            add_note,
            _WRITES,
        ),
        Tool(
            "list_notes",
            "The user's latest notes, newest first.",
            _schema(
                {
                    "limit": {
                        "type": "integer",
                        "minimum": 1,
                        "maximum": 100,
                        "default": 10,
                        "description": "how many notes",
                    }
                }
            ),
            list_notes,
            _READS,
        ),
        Tool(
            "search_notes",
            "Find the user's notes that contain some words.",
            _schema(
                {"query": {"type": "string", "description": "words the note contains"}},
                ("query",),
            ),
            search_notes,
            _READS,
        ),
        Tool(
            "delete_note",
            "Delete one of the user's notes by its number.",
            _schema(
                {"note_id": {"type": "integer", "description": "the number of the note"}},
                ("note_id",),
            ),
            delete_note,
            _WRITES,
        ),
    ]


def build_server(store: NotesStore | None = None) -> StdioServer:
    """The server with its tools (``store`` defaults to ``VA_HOME``'s notes)."""
    return StdioServer("va", __version__, build_tools(store), instructions=INSTRUCTIONS)


def main() -> None:
    """Serve the tools over stdio until the client closes stdin."""
    build_server().run()


if __name__ == "__main__":
    main()

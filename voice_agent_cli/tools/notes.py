"""A small notes store in ``VA_HOME/notes.sqlite3``.

SQLite (from the standard library) because several va processes may run at
once (a chat and a room, six ``va tools call`` in a script), each with its own
copy of va's MCP server: every write is one SQLite transaction, and writers
also take an exclusive lock on ``notes.sqlite3.lock`` first, so they queue up
instead of racing SQLite's busy timeout on a loaded machine. A connection is
opened per operation; notes are few and operations rare, and nothing stays
open between calls. The file is private to the user (0600). A database that
cannot be used is a :class:`NoteError` with the reason, never a lost note
reported as saved.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Iterator
from contextlib import closing, contextmanager
from dataclasses import asdict, dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from voice_agent_cli.paths import exclusive_lock, private_file, va_home

MAX_NOTE_CHARS = 4000
#: How long an operation waits for another process's write before giving up.
BUSY_TIMEOUT_S = 30.0

_SCHEMA = """
CREATE TABLE IF NOT EXISTS notes (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    text TEXT NOT NULL,
    created TEXT NOT NULL
)
"""


class NoteError(ValueError):
    """A note cannot be stored as asked (empty, too long), or the store cannot be used."""


@dataclass(frozen=True)
class Note:
    """One note: its number, its text and when it was written (local time, ISO 8601)."""

    id: int
    text: str
    created: str

    def as_dict(self) -> dict[str, Any]:
        """The note as plain data."""
        return asdict(self)


def default_path() -> Path:
    """Where the notes live: ``VA_HOME/notes.sqlite3``."""
    return va_home() / "notes.sqlite3"


class NotesStore:
    """Add, list, search and delete notes."""

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or default_path()

    def add(self, text: str) -> Note:
        """Store a note and return it with its number."""
        text = text.strip()
        if not text:
            raise NoteError("a note needs some text")
        if len(text) > MAX_NOTE_CHARS:
            raise NoteError(f"a note is limited to {MAX_NOTE_CHARS} characters")
        created = datetime.now().astimezone().isoformat(timespec="seconds")
        with self._writing() as db:
            cursor = db.execute("INSERT INTO notes (text, created) VALUES (?, ?)", (text, created))
            note_id = cursor.lastrowid
        assert note_id is not None
        return Note(note_id, text, created)

    def latest(self, limit: int = 20) -> list[Note]:
        """The latest notes, newest first."""
        with self._reading() as db:
            rows = db.execute(
                "SELECT id, text, created FROM notes ORDER BY id DESC LIMIT ?", (max(1, limit),)
            ).fetchall()
        return [Note(*row) for row in rows]

    def search(self, query: str, limit: int = 20) -> list[Note]:
        """Notes holding every word of ``query`` (case-insensitive), newest first."""
        words = query.split()
        if not words:
            return self.latest(limit)
        clause = " AND ".join("text LIKE ? ESCAPE '\\'" for _ in words)
        patterns = [f"%{_escape_like(word)}%" for word in words]
        with self._reading() as db:
            rows = db.execute(
                f"SELECT id, text, created FROM notes WHERE {clause} ORDER BY id DESC LIMIT ?",
                (*patterns, max(1, limit)),
            ).fetchall()
        return [Note(*row) for row in rows]

    def delete(self, note_id: int) -> bool:
        """Delete note ``note_id``; ``False`` if there was none."""
        with self._writing() as db:
            deleted = db.execute("DELETE FROM notes WHERE id = ?", (note_id,)).rowcount
        return deleted > 0

    @contextmanager
    def _reading(self) -> Iterator[sqlite3.Connection]:
        with self._translated(), closing(self._connect()) as db:
            yield db

    @contextmanager
    def _writing(self) -> Iterator[sqlite3.Connection]:
        """One write transaction, with the cross-process lock held around it."""
        lock = self.path.with_name(self.path.name + ".lock")
        with (
            self._translated(),
            exclusive_lock(lock),
            closing(self._connect()) as db,
            db,  # the transaction: committed on success, rolled back on error
        ):
            yield db

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(private_file(self.path), timeout=BUSY_TIMEOUT_S)
        db.execute(_SCHEMA)
        return db

    @contextmanager
    def _translated(self) -> Iterator[None]:
        try:
            yield
        except (sqlite3.Error, OSError) as exc:
            raise NoteError(f"the notes store at {self.path} cannot be used: {exc}") from None


def _escape_like(word: str) -> str:
    return word.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")

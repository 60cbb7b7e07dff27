"""Sessions in one SQLite file under ``VA_HOME`` (the default store).

Safe with several processes: the database runs in WAL mode (readers never
wait for the writer), and an append is one ``BEGIN IMMEDIATE`` transaction
that takes the write lock first, reads the session's turn count, inserts the
turn with the next ``seq`` and updates the count. ``(session_id, seq)`` and
``(session_id, turn_id)`` are unique, so even a bug could not store a turn
twice or two turns in one place. A writer that finds the lock taken waits
(``busy_timeout``) rather than failing.

The file is private (0600; SQLite gives its ``-wal`` and ``-shm`` files the
same mode). Sessions untouched for ``expire_after_days`` are deleted when the
store is opened. SQLite's calls block, so each runs in a worker thread.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TypeVar

from voice_agent_cli.errors import SessionNotFound, SessionStoreUnavailable, SessionWriteFailed
from voice_agent_cli.paths import private_file
from voice_agent_cli.sessions.model import SessionInfo, SessionKind, SessionTurn

#: How long a writer waits for another process's transaction before giving up (ms).
BUSY_TIMEOUT_MS = 10_000
#: Bumped when the schema changes; older files are migrated on open.
SCHEMA_VERSION = 1

_SCHEMA = """
CREATE TABLE IF NOT EXISTS sessions (
    id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    created_at REAL NOT NULL,
    updated_at REAL NOT NULL,
    profile TEXT NOT NULL DEFAULT '',
    llm TEXT,
    room TEXT,
    title TEXT,
    turns INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS sessions_by_update ON sessions (updated_at);
CREATE TABLE IF NOT EXISTS turns (
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq INTEGER NOT NULL,
    turn_id TEXT NOT NULL,
    record TEXT NOT NULL,
    PRIMARY KEY (session_id, seq),
    UNIQUE (session_id, turn_id)
);
"""

_COLUMNS = "id, kind, created_at, updated_at, profile, llm, room, title, turns"
T = TypeVar("T")


class SQLiteSessionStore:
    """A :class:`~voice_agent_cli.sessions.store.SessionStore` in one SQLite file."""

    backend = "sqlite"

    def __init__(self, path: Path, *, expire_after_days: float = 0.0) -> None:
        self.path = path
        self.location = str(path)
        self._expire_after_s = expire_after_days * 86400
        self._lock = threading.Lock()  # one connection, used by one worker thread at a time
        self._db: sqlite3.Connection | None = None

    # -- the interface --------------------------------------------------------------

    async def open(self, info: SessionInfo) -> SessionInfo:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""

        def work(db: sqlite3.Connection) -> SessionInfo:
            with _immediate(db):
                db.execute(
                    f"INSERT OR IGNORE INTO sessions ({_COLUMNS}) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?, 0)",
                    (info.id, info.kind, info.created_at, info.updated_at, info.profile,
                     info.llm, info.room, info.title),
                )  # fmt: skip
                row = db.execute(
                    f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (info.id,)
                ).fetchone()
            return _info(row)

        return await self._run("open a session", work, write=True)

    async def get(self, session_id: str) -> SessionInfo | None:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""

        def work(db: sqlite3.Connection) -> SessionInfo | None:
            row = db.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE id = ?", (session_id,)
            ).fetchone()
            return _info(row) if row else None

        return await self._run("read a session", work)

    async def find(self, prefix: str) -> list[SessionInfo]:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""
        pattern = prefix.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"

        def work(db: sqlite3.Connection) -> list[SessionInfo]:
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM sessions WHERE id LIKE ? ESCAPE '\\' LIMIT 10",
                (pattern,),
            ).fetchall()
            # LIKE ignores ASCII case; ids are compared exactly.
            return [_info(row) for row in rows if row[0].startswith(prefix)]

        return await self._run("find sessions", work)

    async def recent(
        self,
        *,
        limit: int | None = None,
        kind: SessionKind | None = None,
        room: str | None = None,
    ) -> list[SessionInfo]:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""
        filters = {name: value for name, value in (("kind", kind), ("room", room)) if value}

        def work(db: sqlite3.Connection) -> list[SessionInfo]:
            where = " AND ".join(f"{name} = ?" for name in filters)
            rows = db.execute(
                f"SELECT {_COLUMNS} FROM sessions {'WHERE ' + where if where else ''} "
                "ORDER BY updated_at DESC, id LIMIT ?",
                (*filters.values(), -1 if limit is None else limit),
            ).fetchall()
            return [_info(row) for row in rows]

        return await self._run("list sessions", work)

    async def append(self, session_id: str, turn: SessionTurn) -> SessionTurn:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""

        def work(db: sqlite3.Connection) -> SessionTurn:
            with _immediate(db):
                seen = db.execute(
                    "SELECT seq FROM turns WHERE session_id = ? AND turn_id = ?",
                    (session_id, turn.turn_id),
                ).fetchone()
                if seen:
                    return turn.with_seq(int(seen[0]))
                row = db.execute(
                    "SELECT turns FROM sessions WHERE id = ?", (session_id,)
                ).fetchone()
                if row is None:
                    raise SessionNotFound(f"session {session_id} no longer exists")
                seq = int(row[0]) + 1
                db.execute(
                    "INSERT INTO turns (session_id, seq, turn_id, record) VALUES (?, ?, ?, ?)",
                    (session_id, seq, turn.turn_id, turn.to_record()),
                )
                db.execute(
                    "UPDATE sessions SET turns = ?, updated_at = MAX(updated_at, ?), "
                    "llm = COALESCE(?, llm), title = COALESCE(title, ?) WHERE id = ?",
                    (seq, turn.at, turn.llm, turn.user, session_id),
                )
            return turn.with_seq(seq)

        return await self._run("store a turn", work, write=True)

    async def turns(self, session_id: str, *, last: int | None = None) -> list[SessionTurn]:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""

        def work(db: sqlite3.Connection) -> list[SessionTurn]:
            rows = db.execute(
                "SELECT seq, record FROM turns WHERE session_id = ? ORDER BY seq DESC LIMIT ?",
                (session_id, -1 if last is None else last),
            ).fetchall()
            return [SessionTurn.from_record(record, seq=seq) for seq, record in reversed(rows)]

        return await self._run("read turns", work)

    async def delete(self, session_ids: Sequence[str]) -> int:
        """See :class:`~voice_agent_cli.sessions.store.SessionStore`."""
        ids = list(session_ids)

        def work(db: sqlite3.Connection) -> int:
            with _immediate(db):
                removed = 0
                for session_id in ids:
                    removed += db.execute(
                        "DELETE FROM sessions WHERE id = ?", (session_id,)
                    ).rowcount
            return removed

        return await self._run("delete sessions", work, write=True)

    async def aclose(self) -> None:
        """Close the database file."""
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None

    # -- plumbing -------------------------------------------------------------------

    async def _run(
        self, what: str, work: Callable[[sqlite3.Connection], T], *, write: bool = False
    ) -> T:
        return await asyncio.to_thread(self._locked, what, work, write)

    def _locked(self, what: str, work: Callable[[sqlite3.Connection], T], write: bool) -> T:
        with self._lock, self._translate(what, write):
            return work(self._connection())

    def _connection(self) -> sqlite3.Connection:
        if self._db is None:
            private_file(self.path)
            db = sqlite3.connect(
                self.path, timeout=BUSY_TIMEOUT_MS / 1000, isolation_level=None,
                check_same_thread=False,
            )  # fmt: skip
            try:
                db.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
                db.execute("PRAGMA journal_mode = WAL")
                db.execute("PRAGMA synchronous = NORMAL")
                db.execute("PRAGMA foreign_keys = ON")
                with _immediate(db):
                    version = _version(db)
                    if version > SCHEMA_VERSION:
                        raise SessionStoreUnavailable(
                            f"session store {self.path} was written by a newer va "
                            f"(schema {version}); upgrade va to read it"
                        )
                    # One statement at a time: executescript() would commit the transaction.
                    for statement in _SCHEMA.split(";"):
                        if statement.strip():
                            db.execute(statement)
                    db.execute(f"PRAGMA user_version = {SCHEMA_VERSION}")
                if self._expire_after_s > 0:
                    with _immediate(db):
                        db.execute(
                            "DELETE FROM sessions WHERE updated_at < ?",
                            (time.time() - self._expire_after_s,),
                        )
            except BaseException:
                db.close()
                raise
            self._db = db
        return self._db

    @contextmanager
    def _translate(self, what: str, write: bool) -> Iterator[None]:
        """sqlite3 and file errors become session errors that name the file."""
        try:
            yield
        except sqlite3.IntegrityError as exc:  # cannot happen with the lock held; say so if it does
            raise SessionWriteFailed(f"session store {self.path}: {what} failed: {exc}") from None
        except sqlite3.OperationalError as exc:
            reason = str(exc)
            if write and ("locked" in reason or "full" in reason or "disk" in reason):
                raise SessionWriteFailed(
                    f"session store {self.path}: could not {what}: {reason}"
                ) from None
            raise SessionStoreUnavailable(
                f"session store {self.path}: could not {what}: {reason}"
            ) from None
        except sqlite3.DatabaseError as exc:
            raise SessionStoreUnavailable(
                f"session store {self.path} is damaged or not a database ({exc}); "
                "move it away to start afresh"
            ) from None
        except OSError as exc:
            raise SessionStoreUnavailable(
                f"session store {self.path}: {exc.strerror or exc}"
            ) from None
        except ValueError as exc:  # a damaged turn record
            raise SessionStoreUnavailable(f"session store {self.path}: {exc}") from None


@contextmanager
def _immediate(db: sqlite3.Connection) -> Iterator[None]:
    """One write transaction that takes the lock at its start (no upgrade deadlocks)."""
    db.execute("BEGIN IMMEDIATE")
    try:
        yield
    except BaseException:
        db.execute("ROLLBACK")
        raise
    db.execute("COMMIT")


def _version(db: sqlite3.Connection) -> int:
    return int(db.execute("PRAGMA user_version").fetchone()[0])


def _info(row: tuple[object, ...]) -> SessionInfo:
    keys = [name.strip() for name in _COLUMNS.split(",")]
    return SessionInfo.from_json(dict(zip(keys, row, strict=True)))

"""The interface every session store implements (SQLite on disk, Redis when shared).

A store keeps sessions and their turns. Appending is the one operation that
must hold with many writers: two processes that append to one session at the
same moment each get their own ``seq`` (1, 2, 3 ... with no gap and no
repeat), and appending a turn whose ``turn_id`` is already there returns the
stored turn instead of adding it again (so a retry after a lost answer never
duplicates a turn).

Every method raises :class:`~voice_agent_cli.errors.SessionError` subclasses
only: :class:`SessionNotFound`, :class:`SessionStoreUnavailable`,
:class:`SessionWriteFailed`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from voice_agent_cli.errors import SessionNotFound
from voice_agent_cli.sessions.model import SessionInfo, SessionKind, SessionTurn


class SessionStore(Protocol):
    """Where sessions live. Implementations: SQLite and Redis."""

    #: "sqlite" or "redis".
    backend: str
    #: Where, for people: a file path or a Redis URL with its password masked.
    location: str

    async def open(self, info: SessionInfo) -> SessionInfo:
        """The stored session with ``info.id``, created from ``info`` if absent."""
        ...

    async def get(self, session_id: str) -> SessionInfo | None:
        """The session with exactly this id, or ``None``."""
        ...

    async def find(self, prefix: str) -> list[SessionInfo]:
        """Sessions whose id starts with ``prefix`` (at most a few; for ``va sessions show``)."""
        ...

    async def recent(
        self,
        *,
        limit: int | None = None,
        kind: SessionKind | None = None,
        room: str | None = None,
    ) -> list[SessionInfo]:
        """Sessions (of ``kind``, in ``room``), the most recently updated first."""
        ...

    async def append(self, session_id: str, turn: SessionTurn) -> SessionTurn:
        """Append ``turn``; the stored turn, numbered. Idempotent on ``turn.turn_id``."""
        ...

    async def turns(self, session_id: str, *, last: int | None = None) -> list[SessionTurn]:
        """The session's turns in order (only the ``last`` ones when given)."""
        ...

    async def delete(self, session_ids: Sequence[str]) -> int:
        """Delete these sessions with their turns; how many existed."""
        ...

    async def aclose(self) -> None:
        """Release connections and files."""
        ...


async def resolve(store: SessionStore, id_or_prefix: str) -> SessionInfo:
    """The session named by a full id or an unambiguous prefix of one (like git's)."""
    exact = await store.get(id_or_prefix)
    if exact is not None:
        return exact
    found = await store.find(id_or_prefix) if id_or_prefix else []
    if len(found) == 1:
        return found[0]
    if not found:
        raise SessionNotFound(f"no session {id_or_prefix!r} (`va sessions list` shows them)")
    names = ", ".join(sorted(info.id for info in found[:5]))
    raise SessionNotFound(f"{id_or_prefix!r} names several sessions: {names}")


async def latest(store: SessionStore, kind: SessionKind | None = None) -> SessionInfo | None:
    """The most recently updated session (of ``kind``), for ``--continue``."""
    found = await store.recent(limit=1, kind=kind)
    return found[0] if found else None

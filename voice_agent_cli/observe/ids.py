"""Correlation ids: one per session and one per turn, in context variables.

:func:`session_scope` (one per ``va chat``/``talk``/``join`` session) and the
agent, for each turn (:func:`bind_turn`), set them; every log record
(:mod:`.log`) and span (:mod:`.tracing`) made in that context, by whichever
component, carries the ids in force (:func:`correlation`).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar, Token

SESSION_ID: ContextVar[str | None] = ContextVar("va_session_id", default=None)
TURN_ID: ContextVar[str | None] = ContextVar("va_turn_id", default=None)


def new_id() -> str:
    """A short random id (12 hex digits), for sessions and turns."""
    return uuid.uuid4().hex[:12]


def correlation() -> dict[str, str]:
    """The ids in force in this context (only those that are set)."""
    ids = {"session_id": SESSION_ID.get(), "turn_id": TURN_ID.get()}
    return {name: value for name, value in ids.items() if value}


@contextmanager
def session_scope(session_id: str | None = None) -> Iterator[str]:
    """Run the body as one session: its logs and spans carry ``session_id``."""
    session_id = session_id or new_id()
    token = SESSION_ID.set(session_id)
    try:
        yield session_id
    finally:
        _reset(SESSION_ID, token)


def bind_turn(turn_id: str) -> Token[str | None]:
    """Make ``turn_id`` the turn of this context; undo with :func:`unbind_turn`."""
    return TURN_ID.set(turn_id)


def unbind_turn(token: Token[str | None]) -> None:
    """End the turn bound by :func:`bind_turn`."""
    _reset(TURN_ID, token)


def _reset(variable: ContextVar[str | None], token: Token[str | None]) -> None:
    try:
        variable.reset(token)
    except ValueError:
        # An async generator closed from another context (e.g. by the garbage
        # collector) cannot use its token; clearing is the next best thing.
        variable.set(None)

"""What a stored session is made of: its description and its ordered turns.

A session is one conversation: a ``va chat`` REPL, a ``va talk`` loop, or the
agent as a participant of a LiveKit room. Its turns are numbered from 1 by the
store (``seq``) in the order they were appended, whichever process appended
them; a turn's ``turn_id`` makes appending idempotent (a retried append is
found, not stored twice).

The texts (``user``, ``reply``, ``title``) are what the privacy setting let
the store keep: as said, redacted, or ``None``.
"""

from __future__ import annotations

import json
import re
import secrets
import time
from dataclasses import asdict, dataclass, field, replace
from typing import Any, Literal

SessionKind = Literal["chat", "talk", "room"]
KINDS: tuple[SessionKind, ...] = ("chat", "talk", "room")

#: Session ids are short and safe in a file name, a Redis key and a shell word.
_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")


def new_session_id() -> str:
    """A fresh random session id: 12 hexadecimal characters."""
    return secrets.token_hex(6)


def check_session_id(session_id: str) -> str:
    """``session_id`` if it is a valid id; :class:`ValueError` otherwise."""
    if not _ID.match(session_id):
        raise ValueError(
            f"not a session id: {session_id!r} (letters, digits, '_', '.', ':', '-'; "
            "at most 128 characters)"
        )
    return session_id


@dataclass(frozen=True)
class SessionInfo:
    """A session's description (what ``va sessions list`` shows)."""

    id: str
    kind: SessionKind
    created_at: float
    updated_at: float
    profile: str = ""
    llm: str | None = None
    room: str | None = None
    title: str | None = None
    turns: int = 0

    @classmethod
    def new(
        cls,
        kind: SessionKind,
        *,
        session_id: str | None = None,
        profile: str = "",
        llm: str | None = None,
        room: str | None = None,
        now: float | None = None,
    ) -> SessionInfo:
        """A session not stored yet (give it to ``store.open``)."""
        moment = time.time() if now is None else now
        return cls(
            id=check_session_id(session_id or new_session_id()),
            kind=kind,
            created_at=moment,
            updated_at=moment,
            profile=profile,
            llm=llm,
            room=room,
        )

    def as_json(self) -> dict[str, Any]:
        """Plain data, as stored and as ``--json`` prints it."""
        return asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> SessionInfo:
        """The inverse of :meth:`as_json`; :class:`ValueError` for damaged data."""
        try:
            kind = data["kind"]
            if kind not in KINDS:
                raise ValueError(f"unknown session kind {kind!r}")
            return cls(
                id=str(data["id"]),
                kind=kind,
                created_at=float(data["created_at"]),
                updated_at=float(data["updated_at"]),
                profile=str(data.get("profile") or ""),
                llm=_optional_str(data.get("llm")),
                room=_optional_str(data.get("room")),
                title=_optional_str(data.get("title")),
                turns=int(data.get("turns") or 0),
            )
        except (KeyError, TypeError) as exc:
            raise ValueError(f"damaged session record: {exc}") from None


@dataclass(frozen=True)
class SessionTurn:
    """One finished turn of a session: what was said, what answered, how long it took."""

    turn_id: str
    user: str | None
    reply: str | None
    source: str
    at: float = field(default_factory=time.time)
    llm: str | None = None
    speaker: str | None = None
    tool_calls: tuple[str, ...] = ()
    timings: dict[str, float] = field(default_factory=dict)
    interrupted: bool = False
    #: The position in the session, from 1; 0 until the store has appended it.
    seq: int = 0

    def with_seq(self, seq: int) -> SessionTurn:
        """This turn, numbered."""
        return replace(self, seq=seq)

    def as_json(self) -> dict[str, Any]:
        """Plain data, as stored and as ``--json`` prints it."""
        data = asdict(self)
        data["tool_calls"] = list(self.tool_calls)
        return data

    def to_record(self) -> str:
        """The stored form: one JSON object (``seq`` is the store's to set)."""
        data = self.as_json()
        del data["seq"]
        return json.dumps(data, ensure_ascii=False, separators=(",", ":"))

    @classmethod
    def from_record(cls, raw: str | bytes, *, seq: int | None = None) -> SessionTurn:
        """The inverse of :meth:`to_record`; :class:`ValueError` for damaged data."""
        try:
            data = json.loads(raw)
            return cls(
                turn_id=str(data["turn_id"]),
                user=_optional_str(data.get("user")),
                reply=_optional_str(data.get("reply")),
                source=str(data.get("source") or ""),
                at=float(data.get("at") or 0.0),
                llm=_optional_str(data.get("llm")),
                speaker=_optional_str(data.get("speaker")),
                tool_calls=tuple(str(name) for name in data.get("tool_calls") or ()),
                timings={str(k): float(v) for k, v in (data.get("timings") or {}).items()},
                interrupted=bool(data.get("interrupted")),
                seq=int(data.get("seq", 0) if seq is None else seq),
            )
        except (KeyError, TypeError, AttributeError, json.JSONDecodeError) as exc:
            raise ValueError(f"damaged turn record: {exc}") from None


def _optional_str(value: object) -> str | None:
    return None if value is None else str(value)

"""One conversation's record: what a command appends after each turn, and reads back.

:class:`Session` joins a store, a stored session and the privacy setting, so
no caller can write a person's words past ``[privacy] store_text``::

    session = await Session.start(store, privacy, kind="chat", profile="default")
    await session.record(turn_id=..., user="hi", reply="Hello!", source="llm", ...)
    history = await session.history(max_messages=20, max_tokens=32000)

:meth:`Session.history` rebuilds the messages the LLM sees from the last
turns, bounded the way :class:`~voice_agent_cli.core.conversation.Conversation`
bounds a live history (it is the same class doing the trimming).
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

from voice_agent_cli.core.conversation import Conversation
from voice_agent_cli.sessions.model import SessionInfo, SessionKind, SessionTurn
from voice_agent_cli.sessions.store import resolve

if TYPE_CHECKING:
    from voice_agent_cli.contracts.messages import ChatMessage
    from voice_agent_cli.privacy import PrivacySettings
    from voice_agent_cli.sessions.store import SessionStore


@dataclass
class Session:
    """A stored session, ready to take turns."""

    store: SessionStore
    info: SessionInfo
    privacy: PrivacySettings

    @property
    def id(self) -> str:
        """The session id (``va chat --session ID``)."""
        return self.info.id

    @classmethod
    async def start(
        cls,
        store: SessionStore,
        privacy: PrivacySettings,
        *,
        kind: SessionKind,
        session_id: str | None = None,
        profile: str = "",
        llm: str | None = None,
        room: str | None = None,
    ) -> Session:
        """Open ``session_id`` (created if absent), or a new session."""
        info = SessionInfo.new(kind, session_id=session_id, profile=profile, llm=llm, room=room)
        return cls(store, await store.open(info), privacy)

    @classmethod
    async def resume(
        cls, store: SessionStore, privacy: PrivacySettings, session_id: str
    ) -> Session:
        """An existing session (an id or a unique prefix of one): SessionNotFound otherwise."""
        return cls(store, await resolve(store, session_id), privacy)

    async def record(
        self,
        *,
        turn_id: str,
        user: str,
        reply: str,
        source: str,
        llm: str | None = None,
        speaker: str | None = None,
        tool_calls: Iterable[str] = (),
        timings: Mapping[str, float] | None = None,
        interrupted: bool = False,
        at: float | None = None,
    ) -> SessionTurn:
        """Append one finished turn, its texts kept as ``[privacy] store_text`` allows.

        ``at``: when the turn ended (default: now).
        """
        turn = SessionTurn(
            turn_id=turn_id,
            user=self.privacy.stored(user),
            reply=self.privacy.stored(reply),
            source=source,
            at=time.time() if at is None else at,
            llm=llm,
            speaker=speaker,
            tool_calls=tuple(tool_calls),
            timings=dict(timings or {}),
            interrupted=interrupted,
        )
        stored = await self.store.append(self.id, turn)
        self.info = replace(self.info, updated_at=turn.at, turns=max(self.info.turns, stored.seq))
        return stored

    async def history(self, *, max_messages: int, max_tokens: int) -> list[ChatMessage]:
        """The messages to give the LLM, oldest first, bounded like a live conversation."""
        turns = await self.store.turns(self.id, last=max_messages)
        return history_from_turns(turns, max_messages=max_messages, max_tokens=max_tokens)


def history_from_turns(
    turns: Iterable[SessionTurn], *, max_messages: int, max_tokens: int
) -> list[ChatMessage]:
    """User and assistant messages of ``turns``, trimmed as a live history is.

    A turn whose question was not stored (``store_text = "none"``) is left out
    whole: an answer without its question would mislead the LLM. So is a degraded
    turn (every LLM was down): a live conversation forgets those too.
    """
    conversation = Conversation(max_messages=max_messages, max_tokens=max_tokens)
    for turn in turns:
        if turn.user is None or turn.source == "degraded":
            continue
        conversation.add_user(turn.user, speaker=turn.speaker)
        if turn.reply is not None:
            conversation.add_assistant(turn.reply, interrupted=turn.interrupted)
    return list(conversation.messages)

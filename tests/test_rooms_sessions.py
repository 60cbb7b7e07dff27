"""A room's sessions: found again by the next agent in the room, whichever process it is.

Two :class:`RoomSessions` on one store stand for two processes (``va join``
started again, or a ``va serve`` job moved to another worker): the second
appends to the sessions the first started and loads the room's earlier turns,
everyone's, in the order they were said. Both backends, the Redis one real.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, free_port
from voice_agent_cli.config import Settings, load_settings
from voice_agent_cli.core.conversation import Conversation
from voice_agent_cli.rooms.events import ParticipantVoice
from voice_agent_cli.rooms.sessions import RoomSessions, room_session_id
from voice_agent_cli.sessions import SessionStore
from voice_agent_cli.sessions.model import check_session_id
from voice_agent_cli.sessions.recorder import SessionBook
from voice_agent_cli.sessions.redis_store import RedisSessionStore
from voice_agent_cli.sessions.sqlite_store import SQLiteSessionStore
from voice_agent_cli.speech.events import VoiceTurn


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    profile = tmp_path / "room.toml"
    profile.write_text("[buffer]\nenabled = false\n", encoding="utf-8")
    return load_settings(str(profile))


OpenStore = Callable[[], SessionStore]


@pytest.fixture(params=["sqlite", "redis"])
def open_store(request: pytest.FixtureRequest, tmp_path: Path) -> OpenStore:
    """Opens a new connection to one store each call, as another process would."""
    if request.param == "sqlite":
        return lambda: SQLiteSessionStore(tmp_path / "sessions.db")
    server: RedisServer = request.getfixturevalue("shared_redis")
    prefix = f"test-rooms:{uuid.uuid4().hex[:8]}"
    return lambda: RedisSessionStore(server.url, prefix=prefix)


def said(identity: str, index: int, user: str, reply: str) -> ParticipantVoice:
    turn = VoiceTurn(index, user, reply, interrupted=False, timings={}, source="llm")
    return ParticipantVoice(identity, turn)


def test_a_participants_session_id_is_the_same_everywhere_and_safe() -> None:
    first = room_session_id("support-42", "alice")
    assert first == room_session_id("support-42", "alice")
    assert first.startswith("room-support-42.alice.")
    odd = room_session_id("Ünïcode room / 7", "user@example.com:*")
    assert check_session_id(odd) == odd
    # Names that read alike once made safe stay apart.
    assert room_session_id("a b", "x") != room_session_id("a-b", "x")
    assert room_session_id("demo", "alice") != room_session_id("demo", "bob")


async def test_the_next_agent_in_the_room_continues_its_sessions_and_conversation(
    settings: Settings, open_store: OpenStore
) -> None:
    first = SessionBook(settings, open_store())
    sessions = RoomSessions(first, "demo")
    sessions.observe(said("alice", 1, "What is the capital of France?", "Paris."))
    sessions.observe(said("bob", 1, "And of Spain?", "Madrid."))
    await first.aclose()  # the first process leaves (its turns written)

    second = SessionBook(settings, open_store())
    moved = RoomSessions(second, "demo")
    conversation = Conversation(max_messages=20)
    try:
        assert await moved.load_history(conversation) == 4
        moved.observe(said("alice", 2, "How many people live there?", "About two million."))
    finally:
        await second.aclose()
    assert [(m.role, m.content, m.speaker) for m in conversation.messages] == [
        ("user", "What is the capital of France?", "alice"),
        ("assistant", "Paris.", None),
        ("user", "And of Spain?", "bob"),
        ("assistant", "Madrid.", None),
    ]
    store = open_store()
    try:
        alice = room_session_id("demo", "alice")
        kept = await store.turns(alice)
        in_room = {s.id for s in await store.recent(room="demo")}
    finally:
        await store.aclose()
    assert [(t.seq, t.user) for t in kept] == [
        (1, "What is the capital of France?"),
        (2, "How many people live there?"),
    ]
    assert in_room == {alice, room_session_id("demo", "bob")}


async def test_the_history_loaded_is_bounded_like_a_live_one(
    settings: Settings, open_store: OpenStore
) -> None:
    book = SessionBook(settings, open_store())
    sessions = RoomSessions(book, "busy")
    for index in range(6):
        speaker = "alice" if index % 2 else "bob"
        sessions.observe(said(speaker, index, f"question {index}", f"answer {index}"))
    await book.aclose()
    later = SessionBook(settings, open_store())
    try:
        conversation = Conversation(max_messages=4)
        assert await RoomSessions(later, "busy").load_history(conversation) == 4
        assert [m.content for m in conversation.messages] == [
            "question 4",
            "answer 4",
            "question 5",
            "answer 5",
        ]
        # Another room's agent starts afresh.
        assert await RoomSessions(later, "elsewhere").load_history(Conversation()) == 0
    finally:
        await later.aclose()


async def test_a_store_that_is_down_costs_the_history_not_the_room(
    settings: Settings, caplog: pytest.LogCaptureFixture
) -> None:
    book = SessionBook(settings, RedisSessionStore(f"redis://127.0.0.1:{free_port()}/0"))
    try:
        with caplog.at_level(logging.WARNING, logger="va.sessions"):
            assert await RoomSessions(book, "demo").load_history(Conversation()) == 0
    finally:
        await book.aclose()
    assert "room demo starts without its earlier conversation" in caplog.text

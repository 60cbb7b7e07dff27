"""The session store: SQLite under VA_HOME and a real redis-server, one contract for both.

Appends from several OS processes at once must never lose or repeat a turn:
the last tests start writer processes against one store and count.
"""

from __future__ import annotations

import asyncio
import itertools
import os
import stat
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.redis_server import RedisServer, free_port
from voice_agent_cli.config import load_settings
from voice_agent_cli.errors import SessionNotFound, SessionStoreUnavailable
from voice_agent_cli.privacy import PrivacySettings
from voice_agent_cli.sessions import (
    Session,
    SessionInfo,
    SessionStore,
    SessionTurn,
    latest,
    open_session_store,
    resolve,
)
from voice_agent_cli.sessions.redis_store import RedisSessionStore
from voice_agent_cli.sessions.sqlite_store import SQLiteSessionStore

WRITER = Path(__file__).parent / "workers" / "session_writer.py"


@pytest.fixture(params=["sqlite", "redis"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[SessionStore]:
    """A fresh store on each backend (Redis: a key prefix of its own)."""
    if request.param == "sqlite":
        opened: SessionStore = SQLiteSessionStore(tmp_path / "sessions.db")
    else:
        server: RedisServer = request.getfixturevalue("shared_redis")
        opened = RedisSessionStore(server.url, prefix=f"test:{uuid.uuid4().hex[:8]}")
    try:
        yield opened
    finally:
        await opened.aclose()


def turn(
    turn_id: str, user: str = "hello", reply: str = "hi there", **fields: object
) -> SessionTurn:
    return SessionTurn(turn_id=turn_id, user=user, reply=reply, source="llm", **fields)  # type: ignore[arg-type]


# -- the contract, on both backends ---------------------------------------------------


async def test_opening_a_session_twice_returns_the_stored_one(store: SessionStore) -> None:
    info = SessionInfo.new(
        "chat", session_id="abc123", profile="default", llm="local:qwen", now=100.0
    )
    opened = await store.open(info)
    assert opened == info
    again = await store.open(SessionInfo.new("talk", session_id="abc123", now=200.0))
    assert again.kind == "chat" and again.created_at == 100.0 and again.llm == "local:qwen"
    assert await store.get("abc123") == info
    assert await store.get("nope") is None


async def test_turns_are_numbered_in_order_and_describe_the_session(store: SessionStore) -> None:
    await store.open(SessionInfo.new("chat", session_id="s1", now=100.0))
    first = await store.append("s1", turn("t1", "What is 2+2?", "4", at=101.0, llm="gemini:flash"))
    second = await store.append(
        "s1",
        turn(
            "t2", "And 3+3?", "6", at=102.5, llm="local:qwen", speaker="alice",
            tool_calls=("va.calculate",), timings={"total": 12.5}, interrupted=True,
        ),
    )  # fmt: skip
    assert (first.seq, second.seq) == (1, 2)
    turns = await store.turns("s1")
    assert [t.seq for t in turns] == [1, 2]
    assert turns[1] == second
    assert turns[1].tool_calls == ("va.calculate",) and turns[1].timings == {"total": 12.5}
    assert await store.turns("s1", last=1) == [second]
    info = await store.get("s1")
    assert info is not None
    assert (info.turns, info.updated_at, info.llm, info.title) == (
        2,
        102.5,
        "local:qwen",
        "What is 2+2?",
    )


async def test_appending_the_same_turn_again_does_not_duplicate_it(store: SessionStore) -> None:
    await store.open(SessionInfo.new("chat", session_id="s1"))
    first = await store.append("s1", turn("t1"))
    retried = await store.append("s1", turn("t1"))
    assert retried.seq == first.seq == 1
    assert len(await store.turns("s1")) == 1


async def test_appending_to_a_session_that_does_not_exist_fails(store: SessionStore) -> None:
    with pytest.raises(SessionNotFound, match="session gone no longer exists"):
        await store.append("gone", turn("t1"))


async def test_sessions_are_listed_most_recent_first_by_kind(store: SessionStore) -> None:
    for index, kind in enumerate(["chat", "talk", "chat", "room"]):
        await store.open(SessionInfo.new(kind, session_id=f"s{index}", now=100.0 + index))  # type: ignore[arg-type]
    await store.append("s0", turn("t", at=200.0))  # a new turn makes s0 the latest
    assert [s.id for s in await store.recent()] == ["s0", "s3", "s2", "s1"]
    assert [s.id for s in await store.recent(limit=2)] == ["s0", "s3"]
    assert [s.id for s in await store.recent(kind="chat")] == ["s0", "s2"]
    found = await latest(store, "talk")
    assert found is not None and found.id == "s1"
    assert await latest(store, "room") is not None


async def test_a_rooms_sessions_are_listed_without_other_rooms(store: SessionStore) -> None:
    for index, room in enumerate(["demo", "lobby", "demo", None]):
        info = SessionInfo.new("room", session_id=f"r{index}", room=room, now=100.0 + index)
        await store.open(info)
    await store.open(SessionInfo.new("chat", session_id="c", now=300.0))
    await store.append("r0", turn("t", at=200.0))  # a new turn makes r0 the room's latest
    assert [s.id for s in await store.recent(room="demo")] == ["r0", "r2"]
    assert [s.id for s in await store.recent(room="demo", limit=1)] == ["r0"]
    assert [s.id for s in await store.recent(room="lobby", kind="room")] == ["r1"]
    assert await store.recent(room="lobby", kind="chat") == []
    await store.delete(["r0"])
    assert [s.id for s in await store.recent(room="demo")] == ["r2"]
    assert await store.recent(room="nowhere") == []


async def test_an_id_prefix_names_a_session_when_it_is_unambiguous(store: SessionStore) -> None:
    for session_id in ("a1b2c3", "a1ffff", "b99999"):
        await store.open(SessionInfo.new("chat", session_id=session_id))
    assert (await resolve(store, "b9")).id == "b99999"
    assert (await resolve(store, "a1b")).id == "a1b2c3"
    with pytest.raises(SessionNotFound, match="names several sessions: a1b2c3, a1ffff"):
        await resolve(store, "a1")
    with pytest.raises(SessionNotFound, match="no session 'zz'"):
        await resolve(store, "zz")
    with pytest.raises(SessionNotFound):
        await resolve(store, "A1B")  # ids are compared exactly


async def test_deleting_sessions_removes_their_turns(store: SessionStore) -> None:
    for session_id in ("s1", "s2"):
        await store.open(SessionInfo.new("chat", session_id=session_id))
        await store.append(session_id, turn("t1"))
    assert await store.delete(["s1", "missing"]) == 1
    assert await store.get("s1") is None
    assert await store.turns("s1") == []
    assert [s.id for s in await store.recent()] == ["s2"]
    # A session deleted while another process still talks in it: the next append says so.
    with pytest.raises(SessionNotFound):
        await store.append("s1", turn("t2"))


# -- privacy and history --------------------------------------------------------------


@pytest.mark.parametrize(
    ("mode", "user", "reply"),
    [
        ("raw", "mail me at ann@example.com", "sure, ann@example.com"),
        ("redacted", "mail me at [email]", "sure, [email]"),
        ("none", None, None),
    ],
)
async def test_turns_keep_what_the_privacy_setting_allows(
    store: SessionStore, mode: str, user: str | None, reply: str | None
) -> None:
    privacy = PrivacySettings(store_text=mode)  # type: ignore[arg-type]
    session = await Session.start(store, privacy, kind="chat", profile="default")
    stored = await session.record(
        turn_id="t1", user="mail me at ann@example.com", reply="sure, ann@example.com",
        source="llm", llm="local:qwen", timings={"total": 3.0},
    )  # fmt: skip
    assert (stored.user, stored.reply) == (user, reply)
    assert (await store.turns(session.id))[0].user == user
    info = await store.get(session.id)
    assert info is not None and info.title == user and info.turns == 1
    assert session.info.turns == 1


async def test_history_is_rebuilt_from_the_last_turns_and_bounded(store: SessionStore) -> None:
    session = await Session.start(store, PrivacySettings(), kind="room", room="demo")
    for index in range(30):
        await session.record(
            turn_id=f"t{index}", user=f"question {index}" + " and more" * 10,
            reply=f"answer {index}",
            source="llm", speaker="alice" if index % 2 else "bob", interrupted=index == 29,
        )  # fmt: skip
    history = await session.history(max_messages=20, max_tokens=32000)
    assert len(history) == 20
    assert (history[0].role, history[0].content, history[0].speaker) == (
        "user",
        "question 20" + " and more" * 10,
        "bob",
    )
    assert (history[-1].role, history[-1].content) == ("assistant", "answer 29")
    assert history[-1].interrupted
    # A small token budget keeps only the newest messages, starting with a question.
    short = await session.history(max_messages=20, max_tokens=256)
    assert len(short) < 20 and short[0].role == "user" and short[-1].content == "answer 29"
    # Another process resumes it by a prefix of its id, and sees the same history.
    again = await Session.resume(store, PrivacySettings(), session.id[:6])
    assert await again.history(max_messages=20, max_tokens=32000) == history


async def test_no_history_comes_back_when_no_text_was_kept(store: SessionStore) -> None:
    session = await Session.start(store, PrivacySettings(store_text="none"), kind="chat")
    await session.record(turn_id="t1", user="secret plans", reply="noted", source="llm")
    assert await session.history(max_messages=20, max_tokens=32000) == []


# -- SQLite ---------------------------------------------------------------------------


async def test_the_default_store_is_a_private_sqlite_file_under_va_home(isolated_env: Path) -> None:
    store = open_session_store(load_settings(None, environ={}).profile)
    assert isinstance(store, SQLiteSessionStore)
    assert store.path == isolated_env / "sessions.db"
    try:
        session = await Session.start(store, PrivacySettings(), kind="chat")
        await session.record(turn_id="t1", user="hi", reply="hello", source="llm")
    finally:
        await store.aclose()
    modes = {path.name: stat.S_IMODE(os.stat(path).st_mode) for path in _files(isolated_env)}
    assert modes and all(mode == 0o600 for mode in modes.values()), modes
    import sqlite3

    with sqlite3.connect(store.path) as db:
        assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"


async def test_old_sessions_expire_when_the_store_is_opened(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    store = SQLiteSessionStore(path)
    await store.open(SessionInfo.new("chat", session_id="old", now=1000.0))
    await store.open(SessionInfo.new("chat", session_id="new"))
    await store.aclose()
    reopened = SQLiteSessionStore(path, expire_after_days=30)
    try:
        assert [s.id for s in await reopened.recent()] == ["new"]
    finally:
        await reopened.aclose()


async def test_a_damaged_database_is_a_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "sessions.db"
    path.write_bytes(b"this is not a database" * 100)
    store = SQLiteSessionStore(path)
    with pytest.raises(
        SessionStoreUnavailable, match=r"is damaged or not a database.*move it away"
    ):
        await store.recent()
    await store.aclose()


# -- Redis ----------------------------------------------------------------------------


async def test_a_profile_that_shares_a_redis_keeps_its_sessions_there(
    shared_redis: RedisServer, tmp_path: Path
) -> None:
    profile = tmp_path / "shared.toml"
    profile.write_text(f'[cache]\nbackend = "redis"\nredis_url = "{shared_redis.url}"\n')
    store = open_session_store(load_settings(profile, environ={}).profile)
    assert isinstance(store, RedisSessionStore) and store.location == shared_redis.url
    await store.aclose()
    local = tmp_path / "local.toml"
    local.write_text(
        f'[cache]\nbackend = "redis"\nredis_url = "{shared_redis.url}"\n'
        '[sessions]\nbackend = "sqlite"\n'
    )
    store = open_session_store(load_settings(local, environ={}).profile)
    assert isinstance(store, SQLiteSessionStore)
    await store.aclose()


async def test_redis_sessions_carry_their_expiry(shared_redis: RedisServer) -> None:
    from redis.asyncio import Redis

    store = RedisSessionStore(shared_redis.url, prefix="ttl-test", expire_after_days=1)
    client = Redis.from_url(shared_redis.url)
    try:
        await store.open(SessionInfo.new("chat", session_id="s1"))
        await store.append("s1", turn("t1"))
        for key in ("ttl-test:s:s1", "ttl-test:t:s1", "ttl-test:k:s1"):
            assert 86000 < await client.ttl(key) <= 86400, key
    finally:
        await client.aclose()
        await store.aclose()


async def test_an_unreachable_redis_is_a_clear_error_without_its_password() -> None:
    store = RedisSessionStore(f"redis://:hunter2@127.0.0.1:{free_port()}/0")
    with pytest.raises(SessionStoreUnavailable) as caught:
        await store.recent()
    assert "hunter2" not in str(caught.value) and "redis://:***@127.0.0.1" in str(caught.value)
    await store.aclose()


# -- several processes, one session ---------------------------------------------------


def _files(directory: Path) -> list[Path]:
    return [path for path in directory.iterdir() if path.name.startswith("sessions.db")]


@pytest.mark.parametrize("backend", ["sqlite", "redis"])
def test_writers_in_several_processes_lose_and_repeat_no_turn(
    backend: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    writers, each = 4, 40
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("shared_redis")
        location = server.url
    else:
        location = str(tmp_path / "sessions.db")

    def opened() -> SessionStore:  # the writers use the default Redis prefix too
        if backend == "redis":
            return RedisSessionStore(location)
        return SQLiteSessionStore(Path(location))

    session_id = f"shared-{uuid.uuid4().hex[:6]}"

    async def create() -> None:
        store = opened()
        await store.open(SessionInfo.new("room", session_id=session_id, room="demo"))
        await store.aclose()

    async def read() -> tuple[list[SessionTurn], SessionInfo | None]:
        store = opened()
        try:
            return await store.turns(session_id), await store.get(session_id)
        finally:
            await store.aclose()

    asyncio.run(create())
    go = tmp_path / "go"
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                str(WRITER),
                backend,
                location,
                session_id,
                f"w{n}",
                str(each),
                str(go),
            ],
            stdout=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONPATH": os.getcwd()},
        )
        for n in range(writers)
    ]
    # Start them together only once every writer has imported and waits at the line.
    ready = [tmp_path / f"go.ready-w{n}" for n in range(writers)]
    deadline = time.monotonic() + 60
    while not all(path.exists() for path in ready) and time.monotonic() < deadline:
        time.sleep(0.01)
    go.touch()
    seqs_by_writer = {}
    for n, process in enumerate(processes):
        out, _ = process.communicate(timeout=120)
        assert process.returncode == 0
        seqs_by_writer[f"w{n}"] = [int(line) for line in out.split()]
    turns, info = asyncio.run(read())
    total = writers * each
    assert [t.seq for t in turns] == list(range(1, total + 1))  # no gap, no repeat
    expected_ids = sorted(f"w{n}-{i}" for n in range(writers) for i in range(each))
    assert sorted(t.turn_id for t in turns) == expected_ids
    assert info is not None and info.turns == total
    for writer, seqs in seqs_by_writer.items():
        # each writer's turns are in its own order, at the places it was told
        mine = [t for t in turns if t.turn_id.startswith(f"{writer}-")]
        assert [t.turn_id for t in mine] == [f"{writer}-{i}" for i in range(each)]
        assert [t.seq for t in mine] == seqs
    # the writers really interleaved (otherwise this test proves little)
    owners = [t.turn_id.split("-")[0] for t in turns]
    assert sum(a != b for a, b in itertools.pairwise(owners)) >= writers

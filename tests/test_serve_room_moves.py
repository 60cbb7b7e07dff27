"""A ``va serve`` job that moves to another worker carries its room's conversation along.

Issue 17, item 4 ("a room moves to another worker"). Two in-process
``va serve`` runs register with the fake dispatcher over a real websocket;
their sessions go to one real redis-server. The first run answers alice in
the dispatched room, then dies (its task cancelled: its socket closes without
a word, as a killed process's does). The dispatcher offers the job again, the
second run (a fresh agent, a fresh scripted LLM) joins the same room, and
alice's next question reaches its LLM with her earlier turn in the history;
the store holds both turns in one session, numbered 1 and 2. Real speech
models; the rooms are the fake room.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest

from tests.redis_server import RedisServer
from tests.rooms_helpers import ask_in_room, until
from tests.serve_helpers import API_KEY, API_SECRET, serve_run
from tests.speech_fixtures import silence, timeline
from voice_agent_cli.config import load_settings
from voice_agent_cli.rooms.sessions import room_session_id
from voice_agent_cli.sessions.redis_store import RedisSessionStore
from voice_agent_cli.testing.fake_dispatcher import FakeDispatcher
from voice_agent_cli.testing.fake_livekit import FakeLiveKitServer
from voice_agent_cli.testing.fake_llm import FakeLLM

ROOM = "support-7"
FIRST_REPLY = "Paris is the capital of France."
SECOND_REPLY = "About two million people live in Paris."


async def turns_kept(store: RedisSessionStore, session_id: str, count: int) -> None:
    """Wait until the session holds ``count`` turns (they are written just after the turn)."""
    for _ in range(500):
        info = await store.get(session_id)
        if info is not None and info.turns >= count:
            return
        await asyncio.sleep(0.02)
    raise AssertionError(f"session {session_id} never held {count} turns")


async def listening(rooms: FakeLiveKitServer, count: int) -> None:
    """Wait until the agent is in the ``count``-th room and listening."""
    await until(lambda: len(rooms.rooms) == count and rooms.current.isconnected(), within=30)
    room = rooms.current
    await until(lambda: room.local_participant.attributes.get("lk.agent.state") == "listening", 60)


async def stop(main: asyncio.Task[int]) -> None:
    main.cancel()
    await asyncio.gather(main, return_exceptions=True)


@pytest.mark.slow
async def test_a_room_moved_to_another_worker_continues_its_sessions(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    shared_redis: RedisServer,
    say: object,
    whisper_loaded: None,
    voice_loaded: None,
) -> None:
    prefix = f"va-room-move-{uuid.uuid4().hex[:8]}"
    profile = tmp_path / "serve.toml"
    profile.write_text(
        "[buffer]\nenabled = false\n[cache]\nenabled = false\n"
        "[serve]\nstatus_interval_s = 0.5\n"
        f'[sessions]\nbackend = "redis"\nredis_url = "{shared_redis.url}"\n'
        f'redis_prefix = "{prefix}"\n',
        encoding="utf-8",
    )
    settings = load_settings(str(profile))
    rooms = FakeLiveKitServer()
    first_llm, second_llm = FakeLLM([FIRST_REPLY]), FakeLLM([SECOND_REPLY])
    alice = room_session_id(ROOM, "alice")
    store = RedisSessionStore(shared_redis.url, prefix=prefix)
    try:
        async with FakeDispatcher(API_KEY, API_SECRET) as dispatcher:
            first = asyncio.create_task(serve_run(settings, dispatcher, rooms, first_llm).main())
            second: asyncio.Task[int] | None = None
            try:
                await dispatcher.wait_for_workers(1)
                placed = await dispatcher.dispatch(ROOM)
                assert placed is not None
                await listening(rooms, 1)
                question = say("What is the capital of France?")  # type: ignore[operator]
                await ask_in_room(rooms.current, "alice", timeline(silence(0.2), question))
                await turns_kept(store, alice, 1)

                second = asyncio.create_task(
                    serve_run(settings, dispatcher, rooms, second_llm).main()
                )
                await dispatcher.wait_for_workers(2)
                await stop(first)  # the first worker dies; the server offers its job again
                await listening(rooms, 2)
                assert dispatcher.jobs[placed.job_id].assignments == 2
                question = say("How many people live there?")  # type: ignore[operator]
                await ask_in_room(rooms.current, "alice", timeline(silence(0.2), question))
                await turns_kept(store, alice, 2)
            finally:
                await stop(first)
                if second is not None:
                    await stop(second)
        kept = await store.turns(alice)
        in_room = await store.recent(room=ROOM)
    finally:
        await store.aclose()

    # The second agent's LLM heard alice's first turn before her second question.
    [request] = second_llm.requests
    said = [(m.role, m.content, m.speaker) for m in request.messages]
    assert len(said) == 3, said
    assert said[0][0] == "user" and "capital of france" in said[0][1].lower()
    assert said[0][2] == "alice"
    assert said[1] == ("assistant", FIRST_REPLY, None)
    assert said[2][0] == "user" and "how many people" in said[2][1].lower()

    # One session for alice in this room: both turns, numbered on.
    assert [info.id for info in in_room] == [alice]
    assert in_room[0].turns == 2
    assert [(t.seq, t.speaker, t.reply) for t in kept] == [
        (1, "alice", FIRST_REPLY),
        (2, "alice", SECOND_REPLY),
    ]

    # The second job said it continued the room's conversation.
    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    notices = [e["message"] for e in events if e.get("event") == "notice"]
    assert "continuing the room's conversation (2 earlier messages)" in notices

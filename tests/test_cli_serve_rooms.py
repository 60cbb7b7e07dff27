"""``va serve`` joins the rooms it is dispatched, with the room agent of ``va join``.

The whole command runs in-process: the worker registers with the fake
dispatcher over a real websocket, the job's room is the fake room (no LiveKit
server can run here), the speech models are real and the LLM is scripted.
A participant asks a question in the dispatched room and is answered; the
turn is kept in their session; SIGTERM drains the worker: it leaves the room,
reports the job done and returns exit code 0.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
from pathlib import Path

import pytest

from tests.rooms_helpers import ask_in_room, until
from tests.serve_helpers import API_KEY, API_SECRET, serve_run
from tests.speech_fixtures import silence, timeline
from voice_agent_cli.config import load_settings
from voice_agent_cli.sessions import open_session_store
from voice_agent_cli.testing.fake_dispatcher import FakeDispatcher
from voice_agent_cli.testing.fake_livekit import FakeLiveKitServer
from voice_agent_cli.testing.fake_llm import FakeLLM


@pytest.mark.slow
async def test_a_dispatched_room_is_joined_answered_and_left_on_a_drain(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    say: object,
    whisper_loaded: None,
    voice_loaded: None,
) -> None:
    profile = tmp_path / "serve.toml"
    profile.write_text(
        "[buffer]\nenabled = false\n[cache]\nenabled = false\n[serve]\nstatus_interval_s = 0.5\n",
        encoding="utf-8",
    )
    settings = load_settings(str(profile))
    rooms = FakeLiveKitServer(participants=["carol"])
    async with FakeDispatcher(API_KEY, API_SECRET) as dispatcher:
        run = serve_run(settings, dispatcher, rooms, FakeLLM(["Paris is the capital of France."]))
        main = asyncio.create_task(run.main())
        await dispatcher.wait_for_workers(1)
        placed = await dispatcher.dispatch("support-42")
        assert placed is not None
        await until(lambda: rooms.rooms and rooms.current.isconnected(), within=10)
        room = rooms.current
        # The server's token put the agent in the dispatched room, as PREFIX-JOBID.
        assert room.name == "support-42"
        assert room.local_participant.identity == f"va-agent-{placed.job_id}"
        await until(
            lambda: room.local_participant.attributes.get("lk.agent.state") == "listening", 30
        )
        question = say("What is the capital of France?")  # type: ignore[operator]
        await ask_in_room(room, "alice", timeline(silence(0.2), question))

        os.kill(os.getpid(), signal.SIGTERM)  # what a service manager sends
        assert await asyncio.wait_for(main, 20) == 0
        assert dispatcher.jobs[placed.job_id].statuses == ["running", "success"]
    assert not room.isconnected() and room.local_participant.track_publications == {}

    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    in_room = [e for e in events if e["type"] == "room" and e["job"] == placed.job_id]
    [turn] = [e for e in in_room if e["event"] == "turn"]
    assert turn["speaker"] == "alice" and turn["reply"] == "Paris is the capital of France."
    assert [e["type"] for e in events][-1] == "stopped"

    [note] = [e for e in in_room if e["event"] == "notice" and "for alice" in e["message"]]
    store = open_session_store(settings.profile)
    try:
        info = await store.get(note["message"].split()[1])
    finally:
        await store.aclose()
    assert info is not None and (info.kind, info.room, info.turns) == ("room", "support-42", 1)

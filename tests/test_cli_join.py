"""``va join`` and ``va token`` as a user runs them.

No LiveKit server runs here: the failure paths run the real SDK against an
unreachable port, a half-open socket and a small HTTP server that answers the
way LiveKit rejects a token; the success path runs the whole command in-process
against the fake room, with real speech models and the scripted FakeLLM.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from livekit import api

from tests.cli_helpers import json_lines, run_va, run_va_process
from tests.rooms_helpers import ask_in_room, until
from tests.speech_fixtures import silence, timeline
from voice_agent_cli.cli.join import JoinRun
from voice_agent_cli.config import load_settings
from voice_agent_cli.rooms.target import resolve_target
from voice_agent_cli.sessions import open_session_store
from voice_agent_cli.testing.fake_livekit import FakeLiveKitServer
from voice_agent_cli.testing.fake_llm import FakeLLM

KEY = "devkey"
SECRET = "a-test-secret-that-is-long-enough-1234"
CREDENTIALS = {"LIVEKIT_API_KEY": KEY, "LIVEKIT_API_SECRET": SECRET}
#: Generous: the point is "never a hang", not a benchmark (these machines are shared).
FAST_S = 10.0


def join_process(
    url: str, *args: str, env: dict[str, str] | None = None
) -> tuple[int, str, str, float]:
    began = time.perf_counter()
    result = run_va_process(
        "join",
        "--room",
        "demo",
        *args,
        env={"LIVEKIT_URL": url, **CREDENTIALS, **(env or {})},
        timeout=60,
    )
    return result.returncode, result.stdout, result.stderr, time.perf_counter() - began


def assert_one_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1, stderr
    assert lines[0].startswith("va: ") and "Traceback" not in stderr
    return lines[0]


# -- failing fast ------------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def test_an_unreachable_server_fails_fast_with_one_line() -> None:
    code, stdout, stderr, took = join_process(f"ws://127.0.0.1:{free_port()}")
    assert code == 3 and stdout == ""
    line = assert_one_line(stderr)
    assert "cannot reach the LiveKit server" in line and "connection refused" in line
    assert took < FAST_S


@pytest.fixture
def half_open() -> Iterator[int]:
    """A server that accepts connections and never says a word."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(8)
    yield int(listener.getsockname()[1])
    listener.close()


def test_a_half_open_server_times_out_cleanly(half_open: int) -> None:
    code, stdout, stderr, took = join_process(
        f"ws://127.0.0.1:{half_open}", "--connect-timeout", "1"
    )
    assert code == 3 and stdout == ""
    assert "no answer from the LiveKit server" in assert_one_line(stderr)
    assert took < FAST_S


class _Rejecting(BaseHTTPRequestHandler):
    """Answers every request the way LiveKit answers a token it refuses."""

    status = 401
    body = b"invalid API key: devkey"

    def do_GET(self) -> None:
        self.send_response(self.status)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(self.body)))
        self.end_headers()
        self.wfile.write(self.body)

    def log_message(self, *args: object) -> None: ...


@pytest.fixture
def rejecting_server() -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Rejecting)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield server
    server.shutdown()
    server.server_close()


def test_a_rejected_key_is_a_usage_error(rejecting_server: ThreadingHTTPServer) -> None:
    code, stdout, stderr, took = join_process(f"ws://127.0.0.1:{rejecting_server.server_port}")
    assert code == 2 and stdout == ""
    line = assert_one_line(stderr)
    assert "rejected the token (invalid API key: devkey)" in line
    assert SECRET not in stderr and took < FAST_S


def test_a_room_the_token_does_not_allow(rejecting_server: ThreadingHTTPServer) -> None:
    _Rejecting.status, _Rejecting.body = 403, b"permissions denied"
    try:
        code, _, stderr, _ = join_process(f"ws://127.0.0.1:{rejecting_server.server_port}")
    finally:
        _Rejecting.status, _Rejecting.body = 401, b"invalid API key: devkey"
    assert code == 2 and "does not allow joining this room" in assert_one_line(stderr)


@pytest.mark.parametrize(
    ("env", "args", "words"),
    [
        ({"LIVEKIT_URL": "localhost:7880"}, [], "not a LiveKit server URL"),
        ({"LIVEKIT_API_SECRET": ""}, [], "LIVEKIT_API_SECRET must be set"),
        ({"LIVEKIT_URL": ""}, [], "no LiveKit server URL"),
        ({}, ["--answer", "participant"], "needs participant"),
    ],
)
def test_bad_settings_are_usage_errors(env: dict[str, str], args: list[str], words: str) -> None:
    result = run_va_process(
        "join",
        "--room",
        "demo",
        *args,
        env={"LIVEKIT_URL": "ws://127.0.0.1:9", **CREDENTIALS, **env},
    )
    assert result.returncode == 2 and words in assert_one_line(result.stderr)


def test_an_expired_token_is_refused_before_connecting() -> None:
    expired = (
        api.AccessToken(KEY, SECRET)
        .with_identity("va-agent")
        .with_grants(api.VideoGrants(room_join=True, room="demo"))
        .with_ttl(dt_seconds(-300))
        .to_jwt()
    )
    result = run_va_process(
        "join", "--token", expired, env={"LIVEKIT_URL": "ws://127.0.0.1:9", **CREDENTIALS}
    )
    assert result.returncode == 2
    line = assert_one_line(result.stderr)
    assert "the token expired" in line and expired not in result.stderr


def dt_seconds(seconds: float) -> object:
    import datetime

    return datetime.timedelta(seconds=seconds)


# -- va token ------------------------------------------------------------------------------------


def test_va_token_prints_a_bare_jwt_for_a_person() -> None:
    result = run_va("token", "--room", "demo", "--identity", "alice", env=CREDENTIALS)
    assert result.exit_code == 0 and result.stderr == ""
    token = result.stdout.strip()
    assert "\n" not in token and token.count(".") == 2
    claims = api.TokenVerifier(KEY, SECRET).verify(token)
    assert claims.identity == "alice" and claims.video is not None and claims.video.room == "demo"
    assert claims.kind in ("", "standard")
    assert SECRET not in result.stdout


def test_va_token_json_has_the_grants_and_expiry() -> None:
    result = run_va(
        "token", "--room", "demo", "--identity", "bob", "--ttl", "30m", "--json", env=CREDENTIALS
    )
    assert result.exit_code == 0
    [data] = json_lines(result.stdout)
    assert data["room"] == "demo" and data["identity"] == "bob"
    assert data["grants"] == {
        "room_join": True,
        "can_publish": True,
        "can_subscribe": True,
        "can_publish_data": True,
    }
    assert 1790 <= data["ttl_s"] <= 1800 and data["expires_at"].endswith("+00:00")
    assert api.TokenVerifier(KEY, SECRET).verify(data["token"]).identity == "bob"


def test_va_token_verify_checks_a_token() -> None:
    token = run_va("token", "--room", "demo", "--identity", "alice", env=CREDENTIALS).stdout.strip()
    ok = run_va("token", "--verify", token, "--room", "demo", env=CREDENTIALS)
    assert ok.exit_code == 0 and ok.stdout.startswith("valid: alice in room 'demo'")
    wrong = run_va_process("token", "--verify", token, "--room", "lobby", env=CREDENTIALS)
    assert wrong.returncode == 2 and "is for room 'demo', not 'lobby'" in wrong.stderr


def test_va_token_needs_the_key_pair() -> None:
    result = run_va_process(
        "token", "--room", "demo", "--identity", "a", env={"LIVEKIT_API_KEY": KEY}
    )
    assert result.returncode == 2
    assert "LIVEKIT_API_SECRET must be set" in assert_one_line(result.stderr)


def test_both_commands_are_in_the_help() -> None:
    result = run_va("--help")
    assert "join" in result.stdout and "token" in result.stdout
    join_help = run_va("join", "--help").stdout
    for option in ("--room", "--token", "--answer", "--connect-timeout", "--json"):
        assert option in join_help


# -- the whole command, against the fake room ---------------------------------------------------


@pytest.mark.slow
async def test_va_join_answers_in_a_room_and_leaves_on_sigterm(
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
    say: object,
    whisper_loaded: None,
    voice_loaded: None,
) -> None:
    profile = tmp_path / "room.toml"
    profile.write_text("[buffer]\nenabled = false\n[cache]\nenabled = false\n", encoding="utf-8")
    settings = load_settings(str(profile))
    target = resolve_target(
        settings.profile.livekit,
        room="demo",
        environ={"LIVEKIT_URL": "ws://livekit.test:7880", **CREDENTIALS},
    )
    server = FakeLiveKitServer(participants=["carol"])
    run = JoinRun(
        settings,
        target,
        json_output=True,
        room_factory=server.room_factory,
        llm=FakeLLM(["Paris is the capital of France."]),
    )
    main = asyncio.create_task(run.main())
    await until(lambda: server.rooms and server.current.isconnected(), within=10)
    room = server.current
    await until(lambda: room.local_participant.attributes.get("lk.agent.state") == "listening", 20)
    question = say("What is the capital of France?")  # type: ignore[operator]
    await ask_in_room(room, "alice", timeline(silence(0.2), question))

    os.kill(os.getpid(), signal.SIGTERM)  # what a service manager sends
    await asyncio.wait_for(main, 10)

    events = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    kinds = [e["event"] for e in events]
    assert kinds[:4] == ["connection", "connection", "participant_joined", "joined"]
    assert [e["state"] for e in events if e["event"] == "connection"][:2] == [
        "connecting",
        "connected",
    ]
    joined = events[3]
    assert (joined["identity"], joined["room"], joined["participants"]) == (
        "va-agent",
        "demo",
        ["carol"],
    )
    assert "participant_joined" in kinds and "transcript" in kinds
    [turn] = [e for e in events if e["event"] == "turn"]
    assert turn["speaker"] == "alice" and turn["reply"] == "Paris is the capital of France."
    assert turn["timings"]["e2e_latency"] > 0
    # Alice's turn is kept in her own session, named once as it started.
    [note] = [e for e in events if e["event"] == "notice" and "for alice" in e["message"]]
    session_id = note["message"].split()[1]
    store = open_session_store(settings.profile)
    try:
        info = await store.get(session_id)
        [kept] = await store.turns(session_id)
    finally:
        await store.aclose()
    assert info is not None and (info.kind, info.room) == ("room", "demo")
    assert kept.speaker == "alice" and kept.reply == "Paris is the capital of France."
    # Left cleanly: track unpublished, room disconnected.
    assert room.local_participant.track_publications == {} and not room.isconnected()
    assert kinds[-1] == "connection" and events[-1]["state"] == "disconnected"

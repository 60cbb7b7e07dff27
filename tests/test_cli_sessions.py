"""``va sessions`` run whole through Typer's CliRunner: output, JSON and exit codes."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_va
from tests.redis_server import RedisServer, free_port
from voice_agent_cli.config import load_settings
from voice_agent_cli.privacy import PrivacySettings
from voice_agent_cli.sessions import Session, open_session_store


def record_sessions(profile: str | None = None) -> list[str]:
    """Two sessions in the profile's store, the way the commands will write them."""

    async def work() -> list[str]:
        store = open_session_store(load_settings(profile).profile)
        try:
            chat = await Session.start(
                store, PrivacySettings(), kind="chat", session_id="c0ffee01", llm="local:qwen"
            )
            await chat.record(
                turn_id="t1", user="mail ann@example.com the [bold]plan[/]", reply="Done.",
                source="llm", llm="local:qwen", timings={"total": 375.6},
                tool_calls=["notes.save"],
            )  # fmt: skip
            await chat.record(turn_id="t2", user="thanks", reply="You're welcome!", source="cache")
            room = await Session.start(
                store, PrivacySettings(), kind="room", session_id="f00d0002", room="demo"
            )
            await room.record(
                turn_id="t3", user="what time is it", reply="Noon.", source="llm",
                speaker="alice", interrupted=True,
            )  # fmt: skip
            return [chat.id, room.id]
        finally:
            await store.aclose()

    return asyncio.run(work())


def test_list_shows_sessions_most_recent_first_redacted() -> None:
    record_sessions()
    result = run_va("sessions", "list")
    assert result.exit_code == 0, result.stderr
    out = result.stdout
    assert out.index("f00d0002") < out.index("c0ffee01")
    assert "room demo" in out and "[email]" in out and "ann@example.com" not in out
    assert "[bold]plan[/]" in out  # what people said is text, never markup
    assert "sqlite at" in out


def test_list_json_filters_by_kind() -> None:
    record_sessions()
    data = json.loads(run_va("sessions", "list", "--json", "--kind", "chat").stdout)
    assert data["backend"] == "sqlite"
    [session] = data["sessions"]
    assert session["id"] == "c0ffee01" and session["turns"] == 2 and session["kind"] == "chat"
    assert session["title"] == "mail [email] the [bold]plan[/]"
    bad = run_va("sessions", "list", "--kind", "phone")
    assert bad.exit_code == 2 and "--kind must be one of chat, talk, room" in bad.stderr


def test_list_json_filters_by_room() -> None:
    record_sessions()
    data = json.loads(run_va("sessions", "list", "--json", "--room", "demo").stdout)
    assert [session["id"] for session in data["sessions"]] == ["f00d0002"]
    none = json.loads(run_va("sessions", "list", "--json", "--room", "lobby").stdout)
    assert none["sessions"] == []


def test_show_prints_every_turn_and_accepts_a_prefix() -> None:
    record_sessions()
    result = run_va("sessions", "show", "c0f")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "session c0ffee01: chat"
    assert "#1" in result.stdout and "you: mail [email] the [bold]plan[/]" in result.stdout
    assert "va (llm, local:qwen, 376 ms, tools: notes.save): Done." in result.stdout
    assert "va (cache): You're welcome!" in result.stdout
    room = run_va("sessions", "show", "f00d0002").stdout
    assert "alice: what time is it" in room and "interrupted" in room


def test_show_json_and_last() -> None:
    record_sessions()
    data = json.loads(run_va("sessions", "show", "c0ffee01", "--json", "--last", "1").stdout)
    assert data["session"]["turns"] == 2
    assert [turn["seq"] for turn in data["turns"]] == [2]
    assert data["turns"][0]["reply"] == "You're welcome!"


def test_an_unknown_session_is_a_usage_error() -> None:
    result = run_va("sessions", "show", "nothere")
    assert result.exit_code == 2
    assert result.stderr == "va: no session 'nothere' (`va sessions list` shows them)\n"


def test_export_is_one_json_document_with_the_turns(tmp_path: Path) -> None:
    record_sessions()
    everything = json.loads(run_va("sessions", "export").stdout)
    assert everything["format"] == "va-sessions-export" and everything["version"] == 1
    assert [s["id"] for s in everything["sessions"]] == ["f00d0002", "c0ffee01"]
    assert "ann@example.com" not in json.dumps(everything)
    target = tmp_path / "one.json"
    result = run_va("sessions", "export", "c0ffee01", "-o", str(target))
    assert result.exit_code == 0 and "exported 1 session to" in result.stderr
    [one] = json.loads(target.read_text())["sessions"]
    assert [turn["user"] for turn in one["turns"]] == ["mail [email] the [bold]plan[/]", "thanks"]


def test_delete_removes_named_sessions_or_all_of_them() -> None:
    record_sessions()
    typo = run_va("sessions", "delete", "c0ffee01", "nothere")
    assert typo.exit_code == 2  # nothing was deleted
    assert len(json.loads(run_va("sessions", "list", "--json").stdout)["sessions"]) == 2
    result = run_va("sessions", "delete", "c0f")
    assert result.exit_code == 0 and result.stdout == "deleted 1 session\n"
    data = json.loads(run_va("sessions", "delete", "--all", "--json").stdout)
    assert data == {"deleted": 1, "ids": ["f00d0002"]}
    assert run_va("sessions", "list").stdout.startswith("No sessions")
    neither = run_va("sessions", "delete")
    assert neither.exit_code == 2 and "or pass --all" in neither.stderr


def test_sessions_on_the_shared_redis(shared_redis: RedisServer, tmp_path: Path) -> None:
    shared_redis.flushall()
    profile = tmp_path / "shared.toml"
    profile.write_text(f'[cache]\nbackend = "redis"\nredis_url = "{shared_redis.url}"\n')
    ids = record_sessions(str(profile))
    data = json.loads(run_va("sessions", "list", "--json", "-p", str(profile)).stdout)
    assert data["backend"] == "redis" and [s["id"] for s in data["sessions"]] == ids[::-1]
    # the default profile (SQLite under VA_HOME) does not see them
    assert json.loads(run_va("sessions", "list", "--json").stdout)["sessions"] == []


@pytest.mark.parametrize("command", [["list"], ["show", "x"], ["export"], ["delete", "--all"]])
def test_an_unreachable_redis_is_exit_code_3(
    command: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VA_SESSIONS__BACKEND", "redis")
    monkeypatch.setenv("VA_REDIS_URL", f"redis://:pw@127.0.0.1:{free_port()}/0")
    result = run_va("sessions", *command)
    assert result.exit_code == 3
    assert (
        result.stderr.startswith("va: redis at redis://:***@127.0.0.1:")
        and "pw@" not in result.stderr
    )

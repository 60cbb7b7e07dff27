"""``va cache`` run whole through Typer's CliRunner: output and exit codes."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import Result

from tests.cli_helpers import run_va
from tests.redis_server import free_port
from voice_agent_cli.config import Settings
from voice_agent_cli.testing import FakeLLM

PROFILE = """
description = "buffer tests"

[[buffer.responses]]
phrases = ["hello"]
reply = "Hi!"

[cache]
max_entries = 10
"""


@pytest.fixture
def profile(tmp_path: Path) -> str:
    """A small profile (no tool servers to start) with one pre-buffered reply."""
    path = tmp_path / "buffer-test.toml"
    path.write_text(PROFILE)
    return str(path)


@pytest.fixture
def fake_llm(monkeypatch: pytest.MonkeyPatch) -> FakeLLM:
    """The LLM `va cache warm` gets: scripted, so no model is loaded."""
    llm = FakeLLM(responder=lambda request: f"Answer to: {request.messages[-1].content}")

    def build_llm(settings: Settings, **kwargs: object) -> FakeLLM:
        return llm

    monkeypatch.setattr("voice_agent_cli.compose.agent.build_llm", build_llm)
    return llm


def warm(profile: str, tmp_path: Path, *questions: str, json_output: bool = False) -> Result:
    file = tmp_path / "questions.txt"
    file.write_text("# questions people ask\n\n" + "\n".join(questions) + "\n")
    args = ["cache", "warm", str(file), "--profile", profile]
    return run_va(*args, *(["--json"] if json_output else []))


def test_stats_on_an_empty_cache(profile: str) -> None:
    result = run_va("cache", "stats", "--profile", profile)
    assert result.exit_code == 0, result.stderr
    assert "pre-buffered" in result.stdout and "miss (LLM)" in result.stdout
    assert "hit rate: - (0 of 0 lookups)" in result.stdout
    assert "0 of 10 entries" in result.stdout
    assert "1 pre-buffered replies" in result.stdout


def test_warm_fills_the_cache_and_reports_each_outcome(
    profile: str, tmp_path: Path, fake_llm: FakeLLM
) -> None:
    result = warm(
        profile,
        tmp_path,
        "What is the capital of France?",
        "Who wrote Hamlet?",
        "Hello!",  # pre-buffered already
        "What's the weather today?",  # time-dependent: answered, never cached
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.strip() == (
        "warmed 4 questions: 2 cached, 1 already buffered, 1 not cacheable, 0 failed"
    )
    assert len(fake_llm.requests) == 3

    again = warm(profile, tmp_path, "What is the capital of France?", json_output=True)
    summary = json.loads(again.stdout)
    assert (summary["questions"], summary["already_buffered"], summary["cached"]) == (1, 1, 0)
    assert len(fake_llm.requests) == 3

    listing = json.loads(run_va("cache", "list", "--json", "--profile", profile).stdout)
    assert [entry["question"] for entry in listing["cache"]] == [
        "What is the capital of France?",
        "Who wrote Hamlet?",
    ]
    assert listing["cache"][0]["reply"] == "Answer to: What is the capital of France?"
    assert listing["prebuffered"] == [{"phrases": ["hello"], "reply": "Hi!", "origin": "profile"}]

    stats = json.loads(run_va("cache", "stats", "--json", "--profile", profile).stdout)
    assert stats["entries"] == 2
    assert stats["stores"] == 2
    assert stats["lookups"] == 5
    assert stats["prebuffered_hits"] == 1 and stats["cache_hits"] == 1
    assert stats["hit_rate"] == 0.4
    assert stats["latency_ms"]["cache"]["count"] == 1
    assert stats["latency_ms"]["cache"]["p99"] > 0

    table = run_va("cache", "stats", "--profile", profile)
    assert "hit rate: 40.0% (2 of 5 lookups)" in table.stdout
    assert "2 of 10 entries" in table.stdout


def test_list_shows_both_layers_as_tables(profile: str, tmp_path: Path, fake_llm: FakeLLM) -> None:
    warm(profile, tmp_path, "What is the capital of France?")
    result = run_va("cache", "list", "--profile", profile, env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "Pre-buffered replies" in result.stdout and "hello" in result.stdout
    assert "Cached replies (1, most recently used first)" in result.stdout
    assert "What is the capital of France?" in result.stdout
    assert "fake:scripted" in result.stdout


def test_export_writes_everything_as_json(profile: str, tmp_path: Path, fake_llm: FakeLLM) -> None:
    warm(profile, tmp_path, "What is the capital of France?")
    document = json.loads(run_va("cache", "export", "--profile", profile).stdout)
    assert document["format"] == "va-cache-export"
    assert document["backend"] == "disk"
    assert [entry["normalized"] for entry in document["cache"]] == ["what is the capital of france"]
    assert document["stats"]["stores"] == 1
    target = tmp_path / "export.json"
    result = run_va("cache", "export", "--output", str(target), "--profile", profile)
    assert result.exit_code == 0
    assert "exported 1 cached replies" in result.stderr
    assert json.loads(target.read_text())["cache"] == document["cache"]


def test_clear_forgets_the_replies_and_optionally_the_rest(
    profile: str, tmp_path: Path, fake_llm: FakeLLM
) -> None:
    warm(profile, tmp_path, "What is the capital of France?", "Who wrote Hamlet?")
    run_va("cache", "add", "ping", "pong")
    result = run_va("cache", "clear", "--profile", profile)
    assert (result.exit_code, result.stdout) == (0, "cleared 2 cached replies\n")
    assert json.loads(run_va("cache", "list", "--json", "--profile", profile).stdout)["cache"] == []
    result = run_va("cache", "clear", "--stats", "--custom", "--json", "--profile", profile)
    assert json.loads(result.stdout) == {"removed": 0, "stats_reset": True, "custom_removed": 1}
    stats = json.loads(run_va("cache", "stats", "--json", "--profile", profile).stdout)
    assert stats["lookups"] == 0


def test_add_and_remove_a_custom_reply(profile: str) -> None:
    result = run_va("cache", "add", "What's your name?", "I'm va, at {time}.")
    assert result.exit_code == 0, result.stderr
    assert result.stdout == 'added: "What\'s your name?" -> "I\'m va, at {time}."\n'
    result = run_va("cache", "add", "--regex", r"how old is (\w+)", "No idea about {1}.")
    assert result.exit_code == 0
    listing = json.loads(run_va("cache", "list", "--json", "--profile", profile).stdout)
    assert listing["prebuffered"][:2] == [
        {"phrases": ["what is your name"], "reply": "I'm va, at {time}.", "origin": "custom"},
        {"pattern": r"how old is (\w+)", "reply": "No idea about {1}.", "origin": "custom"},
    ]
    result = run_va("cache", "remove", "what is your name")
    assert (result.exit_code, result.stdout) == (0, "removed 1 custom reply\n")


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["cache", "add", "--regex", "(", "x"], "not a valid regular expression"),
        (["cache", "add", "hi", "It is {tiem}"], "unknown field {tiem}"),
        (["cache", "remove", "never added"], "no custom reply for 'never added'"),
        (["cache", "warm", "/nonexistent/questions.txt"], "cannot read /nonexistent"),
        (["cache", "stats", "--profile", "nope"], "unknown profile 'nope'"),
    ],
)
def test_bad_input_is_a_one_line_usage_error(args: list[str], message: str) -> None:
    result = run_va(*args)
    assert result.exit_code == 2
    assert result.stderr.startswith("va: ") and message in result.stderr
    assert result.stderr.count("\n") == 1
    assert "Traceback" not in result.stderr


def test_an_empty_questions_file_is_a_usage_error(tmp_path: Path, profile: str) -> None:
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing\n\n")
    result = run_va("cache", "warm", str(empty), "--profile", profile)
    assert result.exit_code == 2
    assert "holds no questions" in result.stderr


def test_an_unreachable_redis_is_exit_code_3_without_the_password(tmp_path: Path) -> None:
    profile = tmp_path / "redis.toml"
    profile.write_text('[cache]\nbackend = "redis"\n')
    url = f"redis://:hunter2-secret@127.0.0.1:{free_port()}/0"
    for command in ("stats", "list", "clear", "export"):
        result = run_va("cache", command, "--profile", str(profile), env={"VA_REDIS_URL": url})
        assert result.exit_code == 3, (command, result.stdout, result.stderr)
        assert "hunter2" not in result.stdout + result.stderr
        assert "redis at redis://:***@127.0.0.1" in result.stderr


def test_show_config_masks_the_redis_password() -> None:
    url = "redis://user:hunter2-secret@cache.internal:6379/0"
    result = run_va("chat", "--show-config", "--json", env={"VA_REDIS_URL": url})
    assert result.exit_code == 0
    assert "hunter2" not in result.stdout
    assert json.loads(result.stdout)["cache"]["redis_url"] == (
        "redis://user:***@cache.internal:6379/0"
    )


def test_warm_refuses_when_the_cache_is_off(profile: str, tmp_path: Path) -> None:
    file = tmp_path / "q.txt"
    file.write_text("What is the capital of France?\n")
    result = run_va(
        "cache", "warm", str(file), "--profile", profile, env={"VA_CACHE__ENABLED": "false"}
    )
    assert result.exit_code == 3
    assert "turns the reply cache off" in result.stderr

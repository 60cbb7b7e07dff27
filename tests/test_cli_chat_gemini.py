"""``va chat`` on Gemini, run as a user would, against the local Gemini-compatible server."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import assert_one_line_failure, json_lines, run_va, run_va_process
from tests.gemini_fixtures import TEST_KEY
from voice_agent_cli.testing import fake_gemini as script
from voice_agent_cli.testing.fake_gemini import FakeGemini


def test_a_key_in_the_environment_selects_gemini(
    fake_gemini: FakeGemini, gemini_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.text("Paris is the capital of France.", chunks=5))
    result = run_va("chat", "-m", "Capital of France?", env=gemini_env)
    assert result.exit_code == 0, result.stderr
    assert result.stdout == "Paris is the capital of France.\n"
    request = fake_gemini.last_request
    assert request is not None and request.stream
    assert request.model == "gemini-3.5-flash-lite"


def test_json_reports_the_path_and_timings(
    fake_gemini: FakeGemini, gemini_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.text("one"), script.text("two"))
    result = run_va("chat", "--json", "--llm", "gemini", input="first\nsecond\n", env=gemini_env)
    assert result.exit_code == 0, result.stderr
    turns = json_lines(result.stdout)
    assert [t["reply"] for t in turns] == ["one", "two"]
    assert turns[0]["llm"] == "gemini:gemini-3.5-flash-lite"
    assert turns[0]["source"] == "llm"
    assert {"llm_ttft", "total"} <= set(turns[1]["timings"])
    # the second turn carried the first in its history
    assert len(fake_gemini.requests[-1].contents) == 3


def test_model_and_system_prompt_flags(fake_gemini: FakeGemini, gemini_env: dict[str, str]) -> None:
    result = run_va(
        "chat",
        "-m",
        "How far away is the moon?",
        "--model",
        "gemini-3.8-flash",
        "--system",
        "Be terse.",
        env=gemini_env,
    )
    assert result.exit_code == 0, result.stderr
    request = fake_gemini.last_request
    assert request is not None
    assert request.model == "gemini-3.8-flash"
    assert request.system_instruction == {"parts": [{"text": "Be terse."}], "role": "user"}


@pytest.mark.parametrize(
    ("replies", "code", "message"),
    [
        ([script.invalid_api_key()], 2, "rejected the API key"),
        ([script.rate_limited()] * 3, 1, "quota"),
        ([script.http_error(500)] * 3, 1, "server error (500"),
        ([script.http_error(503)] * 3, 1, "server error (503"),
        ([script.malformed()] * 3, 1, "malformed"),
        ([script.hang()] * 3, 1, "did not answer within 1 s"),
    ],
)
def test_failures_are_one_line_messages_with_exit_codes(
    fake_gemini: FakeGemini,
    gemini_env: dict[str, str],
    replies: list[script.Reply],
    code: int,
    message: str,
) -> None:
    fake_gemini.enqueue(*replies)
    env = {**gemini_env, "VA_LLM__RETRY_BASE_DELAY_S": "0.01"}
    result = run_va_process(
        "chat", "-m", "How far away is the moon?", "--timeout", "1", env=env, timeout=30
    )
    assert_one_line_failure(result, code, message, TEST_KEY)


def test_a_retired_model_is_one_line_and_exit_2(
    fake_gemini: FakeGemini, gemini_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_gemini, "models", {"gemini-3.5-flash-lite", "gemini-3.8-flash"})
    result = run_va_process(
        "chat", "--model", "gemini-2.0-flash", "-m", "How far is the moon?", env=gemini_env
    )
    assert result.returncode == 2, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "'gemini-2.0-flash'" in result.stderr and "--model" in result.stderr
    # the default model is a current one: the same server answers it
    result = run_va_process("chat", "-m", "How far is the moon?", env=gemini_env)
    assert result.returncode == 0, result.stderr


def test_connection_refused(gemini_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **gemini_env,
        "GOOGLE_GEMINI_BASE_URL": f"http://127.0.0.1:{port}",
        "VA_LLM__MAX_RETRIES": "0",
    }
    result = run_va_process("chat", "-m", "How far away is the moon?", env=env, timeout=30)
    assert result.returncode == 3
    assert f"cannot reach Gemini at 127.0.0.1:{port}" in result.stderr


def test_gemini_without_a_key_says_how_to_fix_it() -> None:
    result = run_va_process("chat", "--llm", "gemini", "-m", "How far away is the moon?")
    assert result.returncode == 2
    assert "GEMINI_API_KEY" in result.stderr
    assert "--llm local" in result.stderr


def test_debug_logging_never_shows_the_key(
    fake_gemini: FakeGemini, gemini_env: dict[str, str], isolated_env: Path
) -> None:
    """The redaction proof: a whole DEBUG run logs the turn, never the key or the PII."""
    email, phone = "jane.doe@example.com", "+1 415 555 0100"
    message = f"How far away is the moon? Write to {email} or call {phone}."
    env = {**gemini_env, "PYTHONWARNINGS": "default", "VA_LOG_LEVEL": "DEBUG"}
    result = run_va_process("chat", "-m", message, env=env)
    assert result.returncode == 0, result.stderr
    assert TEST_KEY not in result.stdout + result.stderr
    log_text = (isolated_env / "logs" / "va.log").read_text()
    records = [json.loads(line) for line in log_text.splitlines()]
    # The turn really was logged at DEBUG, with its ids, words redacted.
    words = next(r for r in records if r["message"] == "turn text")
    assert words["level"] == "debug" and words["turn_id"] and words["session_id"]
    assert words["user_text"] == "How far away is the moon? Write to [email] or call [phone]."
    assert any(r["message"].startswith("turn completed (llm") for r in records)
    for secret in (TEST_KEY, email, phone, "555 0100"):
        assert secret not in log_text
        assert secret not in result.stderr  # DEBUG logs went to stderr too

"""Scripted ``va chat`` sessions (lines on stdin): every line gets its reply or its error.

Issue 12, item 9: one failing line ended the session, and a session that
recovered still exited 3. Now each line is answered or gets a one-line error,
the session goes on, and the exit code says whether every turn was answered:
0 if so, else the exit code of the first turn that was not.
"""

from __future__ import annotations

import pytest

from tests.cli_helpers import json_lines, run_va
from tests.redis_server import free_port
from voice_agent_cli.testing import fake_gemini as script
from voice_agent_cli.testing.fake_gemini import FakeGemini


@pytest.fixture
def session_env(gemini_env: dict[str, str]) -> dict[str, str]:
    # One request per turn (no retries), and every turn asks the server (no cache).
    return {**gemini_env, "VA_LLM__MAX_RETRIES": "0", "VA_CACHE__ENABLED": "false"}


def test_a_failing_line_gets_its_error_and_the_session_goes_on(
    fake_gemini: FakeGemini, session_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(
        script.text("first answer"),
        script.http_error(400, "Request contains an invalid argument."),
        script.text("third answer"),
    )
    result = run_va("chat", input="one\ntwo\nthree\n", env=session_env)
    assert result.stdout == "first answer\nthird answer\n"
    errors = result.stderr.splitlines()
    assert errors == [
        "va: Gemini rejected the request (400): Request contains an invalid argument.",
        "va: 1 of 3 turns were not answered",
    ]
    assert result.exit_code == 1


def test_json_sessions_get_one_object_per_line_errors_included(
    fake_gemini: FakeGemini, session_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.http_error(400), script.text("second answer"))
    result = run_va("chat", "--json", input="one\ntwo\n", env=session_env)
    turns = json_lines(result.stdout)
    failed = turns[0]
    assert failed["user"] == "one" and failed["reply"] == ""
    assert failed["error"] == (
        "Gemini rejected the request (400): Request contains an invalid argument."
    )
    assert failed["error_type"] == "LLMBadRequest" and failed["exit_code"] == 1
    assert turns[1]["reply"] == "second answer" and turns[1]["source"] == "llm"
    assert result.exit_code == 1


def test_a_session_that_recovers_says_which_turns_were_not_answered(
    fake_gemini: FakeGemini, session_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.http_error(503), script.text("back"), script.text("again"))
    result = run_va("chat", input="one\ntwo\nthree\n", env=session_env)
    lines = result.stdout.splitlines()
    assert lines[1:] == ["back", "again"], "the turns after the outage were answered"
    assert "degraded mode" in result.stderr
    assert "back to normal" in result.stderr
    assert result.stderr.splitlines()[-1] == "va: 1 of 3 turns were not answered"
    assert result.exit_code == 1


def test_every_turn_answered_is_exit_0(
    fake_gemini: FakeGemini, session_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.text("a"), script.text("b"))
    result = run_va("chat", input="one\ntwo\n", env=session_env)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "a\nb\n", "")


def test_an_unreachable_llm_is_exit_3_for_message_and_for_stdin(
    session_env: dict[str, str],
) -> None:
    env = {**session_env, "GOOGLE_GEMINI_BASE_URL": f"http://127.0.0.1:{free_port()}"}
    single = run_va("chat", "-m", "hello there friend", env=env)
    assert single.exit_code == 3
    many = run_va("chat", input="one\ntwo\n", env=env)
    assert many.exit_code == 3
    assert many.stderr.splitlines()[-1] == "va: 2 of 2 turns were not answered"

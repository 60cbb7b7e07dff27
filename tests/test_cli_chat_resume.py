"""``va chat`` keeps its conversations as sessions, and resumes them.

Issue 17, item 3: each ``va chat`` run is a session whose turns go to the
store (redacted as the privacy setting says); ``--continue`` resumes the last
chat session and ``--session ID`` a given one, the earlier turns going to the
LLM as history. The LLM here is the real google-genai SDK against the local
Gemini-compatible server, which records what each request carried.
"""

from __future__ import annotations

import pytest

from tests.cli_helpers import json_lines, run_va, run_va_process
from tests.redis_server import free_port
from voice_agent_cli.testing import fake_gemini as script
from voice_agent_cli.testing.fake_gemini import FakeGemini


@pytest.fixture
def chat_env(gemini_env: dict[str, str]) -> dict[str, str]:
    # Every turn asks the server (no reply cache), once (no retries).
    return {**gemini_env, "VA_LLM__MAX_RETRIES": "0", "VA_CACHE__ENABLED": "false"}


def history_texts(fake: FakeGemini) -> list[tuple[str, str]]:
    """(role, text) of every message the last request carried."""
    request = fake.last_request
    assert request is not None
    return [(c["role"], c["parts"][0]["text"]) for c in request.contents]


def test_continue_resumes_the_last_chat_with_its_history(
    fake_gemini: FakeGemini, chat_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.text("Nice to meet you, Ada."), script.text("You are Ada."))
    first = run_va_process("chat", "--json", "-m", "my name is Ada", env=chat_env)
    assert first.returncode == 0, first.stderr
    [turn] = json_lines(first.stdout)
    session = turn["session"]

    second = run_va_process("chat", "--continue", "--json", "-m", "who am I?", env=chat_env)
    assert second.returncode == 0, second.stderr
    assert json_lines(second.stdout)[0]["session"] == session
    assert history_texts(fake_gemini) == [
        ("user", "my name is Ada"),
        ("model", "Nice to meet you, Ada."),
        ("user", "who am I?"),
    ]

    shown = run_va_process("sessions", "show", session, "--json", env=chat_env)
    assert shown.returncode == 0, shown.stderr
    [document] = json_lines(shown.stdout)
    assert document["session"]["kind"] == "chat" and document["session"]["turns"] == 2
    assert [(t["seq"], t["user"], t["reply"]) for t in document["turns"]] == [
        (1, "my name is Ada", "Nice to meet you, Ada."),
        (2, "who am I?", "You are Ada."),
    ]


def test_session_resumes_a_given_session_not_the_last(
    fake_gemini: FakeGemini, chat_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.text("one"), script.text("two"), script.text("three"))
    first = json_lines(run_va("chat", "--json", "-m", "first chat", env=chat_env).stdout)[0]
    json_lines(run_va("chat", "--json", "-m", "second chat", env=chat_env).stdout)
    # A unique start of the id is enough, as with `va sessions show`.
    result = run_va("chat", "--session", first["session"][:6], "-m", "back", env=chat_env)
    assert result.exit_code == 0 and result.stdout == "three\n"
    assert history_texts(fake_gemini) == [
        ("user", "first chat"),
        ("model", "one"),
        ("user", "back"),
    ]


def test_each_line_of_a_scripted_chat_is_one_turn_of_one_session(
    fake_gemini: FakeGemini, chat_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.text("a"), script.http_error(400), script.text("c"))
    result = run_va("chat", "--json", input="one\ntwo\nthree\n", env=chat_env)
    turns = json_lines(result.stdout)
    assert len({t["session"] for t in turns}) == 1
    shown = json_lines(run_va("sessions", "show", turns[0]["session"], "--json").stdout)[0]
    # The failed turn was not an answer: it is neither kept nor sent as history.
    assert [t["user"] for t in shown["turns"]] == ["one", "three"]


def test_turns_are_kept_redacted_when_the_privacy_setting_says_so(
    fake_gemini: FakeGemini, chat_env: dict[str, str]
) -> None:
    env = {**chat_env, "VA_PRIVACY__STORE_TEXT": "redacted"}
    fake_gemini.enqueue(script.text("Noted."), script.text("Done."))
    first = run_va("chat", "--json", "-m", "mail me at ada@example.com", env=env)
    session = json_lines(first.stdout)[0]["session"]
    assert run_va("chat", "--continue", "-m", "and then?", env=env).stdout == "Done.\n"
    # What was said live went to the LLM as said; what is resumed is what was kept.
    assert "ada@example.com" not in history_texts(fake_gemini)[0][1]
    export = run_va("sessions", "export", session, env=env).stdout
    assert "ada@example.com" not in export and "Noted." in export


def test_an_unknown_session_is_a_one_line_usage_error(
    fake_gemini: FakeGemini, chat_env: dict[str, str]
) -> None:
    result = run_va_process("chat", "--session", "0123456789ab", "-m", "hi", env=chat_env)
    assert result.returncode == 2 and result.stdout == ""
    assert result.stderr.strip().splitlines() == [
        "va: no session '0123456789ab' (`va sessions list` shows them)"
    ]
    assert fake_gemini.last_request is None  # failed before any LLM was asked

    both = run_va_process("chat", "--continue", "--session", "x", "-m", "hi", env=chat_env)
    assert both.returncode == 2 and len(both.stderr.strip().splitlines()) == 1


def test_continue_with_no_earlier_chat_starts_one(
    fake_gemini: FakeGemini, chat_env: dict[str, str]
) -> None:
    fake_gemini.enqueue(script.text("hello"))
    result = run_va("chat", "--continue", "--json", "-m", "what now?", env=chat_env)
    assert result.exit_code == 0
    assert history_texts(fake_gemini) == [("user", "what now?")]
    listed = json_lines(run_va("sessions", "list", "--json").stdout)[0]["sessions"]
    assert [s["id"] for s in listed] == [json_lines(result.stdout)[0]["session"]]


def test_sessions_off_keeps_nothing_and_refuses_to_resume(
    fake_gemini: FakeGemini, chat_env: dict[str, str]
) -> None:
    env = {**chat_env, "VA_SESSIONS__ENABLED": "false"}
    fake_gemini.enqueue(script.text("hello"))
    result = run_va("chat", "--json", "-m", "what now?", env=env)
    assert result.exit_code == 0 and "session" not in json_lines(result.stdout)[0]
    refused = run_va_process("chat", "--continue", "-m", "hi", env=env)
    assert refused.returncode == 2 and "sessions are off" in refused.stderr


def test_a_session_store_that_is_down_costs_the_record_not_the_reply(
    fake_gemini: FakeGemini, chat_env: dict[str, str]
) -> None:
    env = {
        **chat_env,
        "VA_SESSIONS__BACKEND": "redis",
        "VA_SESSIONS__REDIS_URL": f"redis://127.0.0.1:{free_port()}/0",
    }
    fake_gemini.enqueue(script.text("one"), script.text("two"))
    result = run_va_process("chat", "-m", "first?", env=env)
    assert result.returncode == 0 and result.stdout == "one\n"
    [warning] = [line for line in result.stderr.splitlines() if "WARNING" in line]
    assert "session store unavailable" in warning and "are not being kept" in warning

    # Resuming is what the user asked for: without the store, one line and exit 3.
    resumed = run_va_process("chat", "--continue", "-m", "second?", env=env)
    assert resumed.returncode == 3 and resumed.stdout == ""
    [line] = resumed.stderr.strip().splitlines()
    assert line.startswith("va: ") and "127.0.0.1" in line

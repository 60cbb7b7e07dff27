"""``va chat --llm openai``, run as a user would, against the local OpenAI-compatible fake."""

from __future__ import annotations

import json
import socket
from pathlib import Path

import pytest

from tests.cli_helpers import assert_one_line_failure, json_lines, run_va, run_va_process
from tests.openai_fixtures import TEST_KEY
from voice_agent_cli.testing import fake_openai as script
from voice_agent_cli.testing.fake_openai import FakeOpenAI


def test_chat_streams_from_the_server_and_labels_the_reply(
    fake_openai: FakeOpenAI, openai_env: dict[str, str]
) -> None:
    fake_openai.enqueue(script.text("one"), script.text("two"))
    result = run_va("chat", "--json", input="first\nsecond\n", env=openai_env)
    assert result.exit_code == 0, result.stderr
    turns = json_lines(result.stdout)
    assert [t["reply"] for t in turns] == ["one", "two"]
    assert turns[0]["llm"] == "openai:fake-model"
    assert {"llm_ttft", "total"} <= set(turns[1]["timings"])
    # the second turn carried the first in its history
    assert [m["role"] for m in fake_openai.requests[-1].messages] == [
        "system",
        "user",
        "assistant",
        "user",
    ]


def test_the_model_flag_and_the_llm_flag(
    fake_openai: FakeOpenAI, openai_env: dict[str, str]
) -> None:
    env = {key: value for key, value in openai_env.items() if key != "VA_LLM"}
    result = run_va(
        "chat", "--llm", "openai", "--model", "llama3.2:3b", "-m", "Hi there, who?", env=env
    )
    assert result.exit_code == 0, result.stderr
    request = fake_openai.last_request
    assert request is not None and request.model == "llama3.2:3b"


@pytest.mark.parametrize(
    ("replies", "code", "message"),
    [
        ([script.invalid_api_key()], 2, "rejected the API key"),
        ([script.model_not_found("fake-model")], 2, "model 'fake-model' not found"),
        ([script.context_length_exceeded()], 1, "too long"),
        ([script.rate_limited(retry_after_s=0.01)] * 3, 1, "rate limit"),
        ([script.server_error(500)] * 3, 1, "failed (500"),
        ([script.malformed()] * 3, 1, "malformed"),
        ([script.hang()] * 3, 1, "did not answer within 1 s"),
    ],
)
def test_failures_are_one_line_messages_with_exit_codes(
    fake_openai: FakeOpenAI,
    openai_env: dict[str, str],
    replies: list[script.Reply],
    code: int,
    message: str,
) -> None:
    fake_openai.enqueue(*replies)
    env = {**openai_env, "VA_LLM__RETRY_BASE_DELAY_S": "0.01"}
    result = run_va_process(
        "chat", "-m", "How far away is the moon?", "--timeout", "1", env=env, timeout=30
    )
    assert_one_line_failure(result, code, message, TEST_KEY)


def test_a_server_that_is_not_running(openai_env: dict[str, str]) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = {
        **openai_env,
        "OPENAI_BASE_URL": f"http://127.0.0.1:{port}/v1",
        "VA_LLM__MAX_RETRIES": "0",
    }
    result = run_va_process("chat", "-m", "How far away is the moon?", env=env, timeout=30)
    assert result.returncode == 3, result.stderr
    assert f"cannot reach the server at 127.0.0.1:{port}" in result.stderr


def test_show_config_masks_the_key_and_headers(openai_env: dict[str, str]) -> None:
    env = {**openai_env, "VA_OPENAI__HEADERS": '{ "X-Api-Key" = "literal-secret" }'}
    result = run_va("chat", "--show-config", "--json", env=env)
    assert result.exit_code == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown["llm_provider"] == "openai"
    assert shown["secrets"]["openai_api_key"].startswith("set (from $OPENAI_API_KEY")
    assert shown["openai"]["headers"] == {"X-Api-Key": "<hidden>"}
    assert "literal-secret" not in result.stdout and TEST_KEY not in result.stdout


@pytest.mark.parametrize("name", ["ollama", "llamacpp", "vllm", "openai"])
def test_shipped_server_profiles_load_and_point_at_their_server(name: str) -> None:
    from voice_agent_cli.config import load_settings

    settings = load_settings(name, environ={})
    assert settings.llm_provider == "openai"
    assert settings.profile.openai.model
    if name != "openai":
        assert (settings.profile.openai.base_url or "").startswith("http://127.0.0.1:")


def test_debug_logging_never_shows_the_key_or_personal_data(
    fake_openai: FakeOpenAI, openai_env: dict[str, str], isolated_env: Path
) -> None:
    """The openai SDK logs requests at DEBUG: va's redaction must still hold."""
    email, phone = "jane.doe@example.com", "+1 415 555 0100"
    message = f"How far away is the moon? Write to {email} or call {phone}."
    env = {**openai_env, "PYTHONWARNINGS": "default", "VA_LOG_LEVEL": "DEBUG"}
    result = run_va_process("chat", "-m", message, env=env)
    assert result.returncode == 0, result.stderr
    log_text = (isolated_env / "logs" / "va.log").read_text()
    assert any(
        json.loads(line)["message"].startswith("turn completed (llm")
        for line in log_text.splitlines()
    )
    assert TEST_KEY not in result.stdout  # (stdout is the fake's echo of the message)
    for secret in (TEST_KEY, email, phone, "555 0100"):
        assert secret not in log_text
        assert secret not in result.stderr  # DEBUG logs went to stderr too

"""``va chat`` run whole, as a user would, on the embedded offline model."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import pexpect
import pytest

from tests.cli_helpers import VA, json_lines, run_va, run_va_process

#: Greedy decoding: the tests that read what the embedded model says must not depend on luck.
GREEDY = {"VA_LLM__TEMPERATURE": "0"}


def test_show_config_masks_the_api_key() -> None:
    secret = "AIzaSy-not-a-real-key-0123456789abcdef"
    result = run_va("chat", "--show-config", "--json", env={"GEMINI_API_KEY": secret})
    assert result.exit_code == 0
    assert secret not in result.stdout + result.stderr
    config = json.loads(result.stdout)
    assert config["llm_provider"] == "gemini"
    assert config["secrets"]["gemini_api_key"].startswith("set (from $GEMINI_API_KEY")
    assert config["gemini"]["model"] == "gemini-3.5-flash-lite"


def test_show_config_applies_flags_over_the_profile() -> None:
    result = run_va(
        "chat",
        "--show-config",
        "--json",
        "--profile",
        "gemini",
        "--llm",
        "local",
        "--timeout",
        "7",
    )
    config = json.loads(result.stdout)
    assert config["name"] == "gemini"
    assert config["llm_provider"] == "local"
    assert config["llm"]["request_timeout_s"] == 7


def test_model_flag_sets_the_model_of_the_answering_provider() -> None:
    result = run_va(
        "chat", "--show-config", "--json", "--llm", "gemini", "--model", "gemini-3.1-pro-preview"
    )
    assert json.loads(result.stdout)["gemini"]["model"] == "gemini-3.1-pro-preview"


def test_a_bad_profile_is_a_one_line_usage_error(tmp_path: Path) -> None:
    profile = tmp_path / "bad.toml"
    profile.write_text("[llm]\nprovider = 'nope'\n")
    result = run_va_process("chat", "--profile", str(profile), "-m", "hi")
    assert result.returncode == 2
    assert result.stderr.strip().count("\n") == 0
    assert "bad.toml" in result.stderr and "llm.provider" in result.stderr
    assert "Traceback" not in result.stderr


def test_a_bad_llm_flag_is_a_usage_error() -> None:
    result = run_va_process("chat", "--llm", "gpt", "-m", "hi")
    assert result.returncode == 2
    assert "llm.provider" in result.stderr


def test_a_missing_local_model_file_says_so(tmp_path: Path) -> None:
    result = run_va_process(
        "chat", "--llm", "local", "--model", str(tmp_path / "x.gguf"), "-m", "hi"
    )
    assert result.returncode == 3
    assert "local model file not found" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.slow
def test_message_prints_one_reply_offline() -> None:
    result = run_va("chat", "--message", "What is the capital of France?", env=GREEDY)
    assert result.exit_code == 0
    assert "Paris" in result.stdout
    assert result.stdout.count("\n") == 1


@pytest.mark.slow
def test_stdin_lines_are_turns_of_one_conversation_in_json() -> None:
    result = run_va(
        "chat", "--json", input="My name is Ada. Reply with OK.\nWhat is my name?\n", env=GREEDY
    )
    assert result.exit_code == 0
    turns = json_lines(result.stdout)
    assert len(turns) == 2
    for turn in turns:
        assert turn["source"] == "llm"
        assert turn["llm"].startswith("local:")
        assert turn["reply"]
        assert turn["timings"]["llm_ttft"] > 0
        assert turn["timings"]["total"] >= turn["timings"]["llm_ttft"]
    assert "Ada" in turns[1]["reply"]


@pytest.mark.slow
def test_piped_stdin_in_a_real_process() -> None:
    result = run_va_process("chat", input="Say hello.\n")
    assert result.returncode == 0
    assert result.stdout.strip()


@pytest.mark.slow
def test_the_repl_on_a_terminal(tmp_path: Path) -> None:
    env = {**os.environ, "TERM": "dumb"}
    child = pexpect.spawn(VA, ["chat"], env=env, encoding="utf-8", timeout=60)
    child.logfile_read = sys.stdout if os.environ.get("VA_TEST_VERBOSE") else None
    try:
        child.expect("you> ")
        child.sendline("/help")
        child.expect("/reset")
        child.expect("you> ")
        child.sendline("Remember the number 42. Reply with OK.")
        child.expect("va> ")
        child.expect("you> ")
        child.sendline("/history")
        child.expect("Remember the number 42")
        child.expect("you> ")
        child.sendline("/reset")
        child.expect("forgotten")
        child.expect("you> ")
        child.sendline("/history")
        child.sendline("/nope")
        child.expect("unknown command /nope")
        child.expect("you> ")
        child.sendeof()  # Ctrl-D leaves cleanly
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    history = Path(os.environ["VA_HOME"]) / "chat_history"
    assert "Remember the number 42" in history.read_text()


def _default_sigint() -> None:
    signal.signal(signal.SIGINT, signal.SIG_DFL)


@pytest.mark.slow
def test_ctrl_c_stops_a_reply_and_the_repl_goes_on() -> None:
    # A suite started in the background of a script inherits SIGINT ignored, and so
    # would va: a terminal's Ctrl-C reaches it only with the default disposition back.
    child = pexpect.spawn(VA, ["chat"], encoding="utf-8", timeout=60, preexec_fn=_default_sigint)
    try:
        child.expect("you> ")
        child.sendline("Write a very long story about a lighthouse keeper, in detail.")
        child.expect("va> ")
        child.sendintr()
        child.expect("interrupted")
        child.expect("you> ")
        child.sendline("/exit")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0

"""Personal data at rest: a private VA_HOME, redacted listings, and text kept out on request.

Issue 12, item 10: the cache database (0644) and ``chat_history`` kept questions
with e-mail addresses and phone numbers in clear. Now VA_HOME is created 0700
and every file in it 0600; ``va cache list`` and ``va cache export`` show what
people said redacted; ``[privacy] store_text`` = ``redacted`` or ``none`` keeps
the raw text out of storage entirely.
"""

from __future__ import annotations

import json
import os
import stat
import sys
from pathlib import Path

import pexpect
import pytest

from tests.cli_helpers import VA, run_va
from voice_agent_cli.privacy import PrivacySettings
from voice_agent_cli.testing import fake_gemini as script
from voice_agent_cli.testing.fake_gemini import FakeGemini

QUESTION = "My e-mail is jane.doe@example.com and my number is +1 415 555 0100, got it?"
PERSONAL = ("jane.doe@example.com", "415 555 0100")


def _stored_bytes(home: Path) -> bytes:
    """Everything va wrote under VA_HOME, as bytes (databases included)."""
    return b"".join(path.read_bytes() for path in home.rglob("*") if path.is_file())


def test_va_home_is_private_to_its_user(
    gemini_env: dict[str, str], fake_gemini: FakeGemini, isolated_env: Path
) -> None:
    home = isolated_env
    fake_gemini.enqueue(script.text("Got it."), script.text("Hello."))
    assert run_va("chat", "-m", QUESTION, env=gemini_env).exit_code == 0
    assert run_va("tools", "call", "va.add_note", '{"text": "call Jane"}').exit_code == 0
    assert run_va("cache", "add", "good morning", "Morning!").exit_code == 0
    # The REPL writes the input history.
    child = pexpect.spawn(
        VA, ["chat"], env={**os.environ, **gemini_env, "TERM": "dumb"}, encoding="utf-8", timeout=60
    )
    child.logfile_read = sys.stdout if os.environ.get("VA_TEST_VERBOSE") else None
    try:
        child.expect("you> ")
        child.sendline("Hello there, how are you?")
        child.expect("you> ")
        child.sendeof()
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert (home / "chat_history").exists()
    assert (home / "notes.sqlite3").exists() and (home / "cache").is_dir()

    assert stat.S_IMODE(home.stat().st_mode) == 0o700
    for path in home.rglob("*"):
        mode = stat.S_IMODE(path.stat().st_mode)
        expected = 0o700 if path.is_dir() else 0o600
        assert mode == expected, f"{path.relative_to(home)} is {mode:o}"


def test_cache_list_and_export_show_what_people_said_redacted(
    gemini_env: dict[str, str], fake_gemini: FakeGemini
) -> None:
    fake_gemini.enqueue(script.text("Got it."))
    assert run_va("chat", "-m", QUESTION, env=gemini_env).exit_code == 0
    listed = run_va("cache", "list")
    as_json = run_va("cache", "list", "--json")
    exported = run_va("cache", "export")
    for output in (listed.stdout, as_json.stdout, exported.stdout):
        for personal in PERSONAL:
            assert personal not in output
    (entry,) = json.loads(as_json.stdout)["cache"]
    assert entry["question"] == "My e-mail is [email] and my number is [phone], got it?"
    assert "[email]" in listed.stdout and "[phone]" in listed.stdout


@pytest.mark.parametrize("store_text", ["redacted", "none"])
def test_store_text_keeps_raw_text_out_of_storage(
    store_text: str, gemini_env: dict[str, str], fake_gemini: FakeGemini, isolated_env: Path
) -> None:
    env = {**gemini_env, "VA_PRIVACY__STORE_TEXT": store_text}
    fake_gemini.enqueue(script.text("Got it."), script.text("Got it."))
    assert run_va("chat", "-m", QUESTION, env=env).exit_code == 0
    stored = _stored_bytes(isolated_env)
    for personal in PERSONAL:
        assert personal.encode() not in stored
    # The reply was cached all the same (keys are hashes): the same question is a hit.
    again = run_va("chat", "--json", "-m", QUESTION, env=env)
    assert json.loads(again.stdout)["source"] == "cache"
    (entry,) = json.loads(run_va("cache", "list", "--json").stdout)["cache"]
    expected = {"redacted": "My e-mail is [email] and my number is [phone], got it?", "none": ""}
    assert entry["question"] == expected[store_text]


def test_a_reply_holding_personal_data_is_not_cached_unless_text_is_stored_raw() -> None:
    reply = "I wrote down +1 415 555 0100 for you."
    assert PrivacySettings(store_text="raw").may_keep_verbatim(reply)
    assert not PrivacySettings(store_text="redacted").may_keep_verbatim(reply)
    assert PrivacySettings(store_text="none").stored(QUESTION) is None
    assert PrivacySettings(store_text="redacted").stored("mail me: a@b.io") == "mail me: [email]"

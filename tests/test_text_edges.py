"""Text from outside is decoded once, at the edge: a byte that is not UTF-8 never crashes va.

Issue 12, item 1: ``va chat -m $'what is a caf\\xe9'`` crashed in the local
model's tokenizer and, on Gemini, in the disk cache; a bad line on standard
input lost every line after it. These tests send real bytes to a real ``va``
process, then throw arbitrary text (lone surrogates included) at the agent core.
"""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.cli_helpers import VA, json_lines
from voice_agent_cli.buffer.disk import open_disk_store
from voice_agent_cli.buffer.response_buffer import ResponseBuffer
from voice_agent_cli.contracts.events import TurnCompleted
from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.testing import FakeLLM
from voice_agent_cli.text import REPLACEMENT, clean_argv, clean_text

#: Any text Python can hold, lone surrogates (what undecodable bytes become) included.
ANY_TEXT = st.text(st.characters(codec=None, exclude_categories=()), max_size=200)


def _va(
    args: list[str | bytes], env: dict[str, str], stdin: bytes | None = None
) -> subprocess.CompletedProcess[bytes]:
    return subprocess.run(
        [VA, *args],
        input=stdin,
        capture_output=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


def test_a_latin1_byte_in_an_argument_is_answered_on_gemini(gemini_env: dict[str, str]) -> None:
    done = _va(["chat", "-m", b"what is a caf\xe9"], gemini_env)
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.decode("utf-8") == f"echo: what is a caf{REPLACEMENT}\n"
    assert b"Traceback" not in done.stderr
    # ... and the reply went into the disk cache, readable there.
    listed = _va(["cache", "list", "--json"], gemini_env)
    questions = [entry["question"] for entry in json.loads(listed.stdout)["cache"]]
    assert questions == [f"what is a caf{REPLACEMENT}"]


@pytest.mark.slow
def test_a_latin1_byte_in_an_argument_is_answered_by_the_embedded_model() -> None:
    done = _va(["chat", "-m", b"what is a caf\xe9", "--llm", "local"], {})
    assert done.returncode == 0, done.stderr.decode()
    assert done.stdout.strip(), "the embedded model answered"
    assert b"Traceback" not in done.stderr


def test_a_bad_line_on_stdin_costs_one_character_not_the_session(
    gemini_env: dict[str, str],
) -> None:
    lines = b"first question\nwhat is a caf\xe9 \xff\xfe\nlast question\n"
    done = _va(["chat", "--json"], gemini_env, stdin=lines)
    assert done.returncode == 0, done.stderr.decode()
    turns = json_lines(done.stdout.decode("utf-8"))
    assert [turn["user"] for turn in turns] == [
        "first question",
        f"what is a caf{REPLACEMENT} {REPLACEMENT}{REPLACEMENT}",
        "last question",
    ]
    assert b"Traceback" not in done.stderr


def test_escaped_bytes_are_decoded_again_and_invalid_ones_replaced() -> None:
    # What Python makes of b"caf\xc3\xa9" in the C locale, and of a lone latin-1 byte.
    assert clean_text("caf\udcc3\udca9") == "café"
    assert clean_text("caf\udce9") == f"caf{REPLACEMENT}"
    assert clean_text("a\ud800b") == f"a{REPLACEMENT}b"
    assert clean_argv(["-m", "plain"]) == ["-m", "plain"]


@given(ANY_TEXT)
def test_clean_text_is_always_encodable_and_idempotent(text: str) -> None:
    cleaned = clean_text(text)
    cleaned.encode("utf-8")
    assert clean_text(cleaned) == cleaned
    if not any(0xD800 <= ord(char) < 0xE000 for char in text):
        assert cleaned == text


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(texts=st.lists(ANY_TEXT, min_size=1, max_size=3))
async def test_the_agent_core_and_the_disk_cache_take_any_text(
    texts: list[str], tmp_path: Path
) -> None:
    # Nothing below the edge may raise on text, whatever it holds: the turn, the
    # history, the cache key, the disk cache, the JSON of the turn.
    store = open_disk_store(tmp_path / "cache")
    buffer = ResponseBuffer(store=store)
    agent = Agent(FakeLLM(), AgentOptions(system_prompt="s"), buffer=buffer)
    try:
        for text in texts:
            completed = await agent.reply(text)
            assert isinstance(completed, TurnCompleted)
            json.dumps(completed.as_json(), ensure_ascii=False).encode("utf-8")
            for entry in await store.entries():
                entry.to_json().encode("utf-8")
    finally:
        await buffer.aclose()

"""Logs: redaction of secrets and personal data, correlation ids across a turn, JSON lines."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from pathlib import Path

import pytest

from voice_agent_cli.core.agent import Agent, AgentOptions
from voice_agent_cli.llm.base import LLMRequest
from voice_agent_cli.observe import ids, log
from voice_agent_cli.observe.redaction import Redactor
from voice_agent_cli.testing import FakeLLM

KEY = "AIzaSyD-9tSrke72PouQMnMX-a7eZSW0jkFMBWY"


@pytest.mark.parametrize(
    ("text", "hidden"),
    [
        (f"calling with key {KEY}", KEY),
        ("Authorization: Bearer ya29.a0AfH6SMBx-very-secret-token", "ya29.a0AfH6SMBx"),
        (
            "token eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJ2YSIsInZpZGVvIjp7fX0.c2lnbmF0dXJlLXZhbHVl",
            "eyJzdWIiOiJ2YSIs",
        ),
        ("LIVEKIT_API_KEY=APIm4fGx2Kq9WzE and more", "APIm4fGx2Kq9WzE"),
        ('{"api_key": "s3cr3t-value-123"}', "s3cr3t-value-123"),
        ("GET /v1beta/models?key=abcdefghijklmnop HTTP/1.1", "abcdefghijklmnop"),
        ("redis://default:hunter2pass@cache.internal:6379/0", "hunter2pass"),
        ("mail jane.doe+va@example.co.uk now", "jane.doe+va@example.co.uk"),
        ("call +1 (415) 555-0100 today", "555-0100"),
        ("call 415-555-0100 today", "415-555-0100"),
        ("ring +447911123456", "7911123456"),
        ("my number is 06 12 34 56 78", "12 34 56 78"),
    ],
)
def test_secrets_and_personal_data_are_redacted(text: str, hidden: str) -> None:
    redacted = Redactor().redact(text)
    assert hidden not in redacted
    assert "[" in redacted  # a marker says something was there


@pytest.mark.parametrize(
    "text",
    [
        "turn completed (llm, 7269 ms) total=1861.848 llm_ttft=336.211",
        "2026-11-27T03:28:28.541+00:00 session 1999d5db963f",
        "loaded 494032768 bytes in 1.25 s",
        "max_output_tokens=512, retries=2",
    ],
)
def test_ordinary_figures_stay_readable(text: str) -> None:
    assert Redactor().redact(text) == text


def test_a_registered_secret_is_hidden_whatever_its_shape() -> None:
    redactor = Redactor(["correct-horse-battery-staple"])
    assert redactor.redact("pw correct-horse-battery-staple!") == "pw [redacted]!"
    assert redactor.redact_value({"a": ["x correct-horse-battery-staple"]}) == {
        "a": ["x [redacted]"]
    }


@pytest.fixture
def captured(tmp_path: Path) -> Iterator[tuple[io.StringIO, Path]]:
    stream = io.StringIO()
    path = tmp_path / "logs" / "va.log"
    setup = log.configure("DEBUG", fmt="json", file=path, stream=stream, secrets=[KEY])
    yield stream, path
    setup.close()


def records(stream: io.StringIO) -> list[dict[str, object]]:
    return [json.loads(line) for line in stream.getvalue().splitlines() if line.strip()]


async def test_every_record_of_a_turn_carries_its_session_and_turn_ids(
    captured: tuple[io.StringIO, Path],
) -> None:
    stream, path = captured
    inner = logging.getLogger("va.llm.test")

    def responder(request: LLMRequest) -> str:
        # A component deep inside the turn logs without knowing any id.
        inner.info("answering %d messages", len(request.messages))
        return "Sure."

    from voice_agent_cli.observe import metrics
    from voice_agent_cli.observe.turns import instrument

    agent = Agent(FakeLLM(responder=responder), AgentOptions(system_prompt="test"))
    instrument(agent, metrics.Metrics())
    with ids.session_scope("sess-1"):
        first = await agent.reply("one")
        second = await agent.reply("two")
    logging.getLogger("va.after").info("outside any turn")

    lines = records(stream)
    inner_lines = [r for r in lines if r["logger"] == "va.llm.test"]
    assert [r["turn_id"] for r in inner_lines] == [first.turn_id, second.turn_id]
    assert all(r["session_id"] == "sess-1" for r in inner_lines)
    completed = [r for r in lines if r["message"].startswith("turn completed")]  # type: ignore[union-attr]
    assert [r["turn_id"] for r in completed] == [first.turn_id, second.turn_id]
    assert completed[0]["timings"] and completed[0]["source"] == "llm"
    outside = next(r for r in lines if r["logger"] == "va.after")
    assert "turn_id" not in outside and "session_id" not in outside
    # The file has the same JSON lines.
    assert [json.loads(line)["message"] for line in path.read_text().splitlines()] == [
        r["message"] for r in lines
    ]


def test_messages_args_extras_and_tracebacks_are_redacted(
    captured: tuple[io.StringIO, Path],
) -> None:
    stream, path = captured
    logger = logging.getLogger("va.test")
    logger.debug("key %s for %s", KEY, "jane@example.com", extra={"phone": "+1 415 555 0100"})
    try:
        raise ValueError(f"bad key {KEY}")
    except ValueError:
        logger.exception("failed")
    logging.getLogger("some.library").warning("header x-goog-api-key: %s", KEY)
    text = stream.getvalue() + path.read_text()
    for secret in (KEY, "jane@example.com", "555 0100"):
        assert secret not in text
    lines = records(stream)
    assert lines[0]["message"] == "key [redacted] for [email]"
    assert lines[0]["phone"] == "[phone]"
    assert "ValueError: bad key [redacted]" in str(lines[1]["exception"])
    assert lines[2]["logger"] == "some.library"


def test_noisy_libraries_stay_quiet_below_warning(captured: tuple[io.StringIO, Path]) -> None:
    stream, _ = captured
    logging.getLogger("httpx2").info("HTTP Request: POST https://example/ 200 OK")
    logging.getLogger("httpx2").warning("a real problem")
    messages = [r["message"] for r in records(stream)]
    assert messages == ["a real problem"]


def test_configuring_again_replaces_the_handlers(tmp_path: Path) -> None:
    first, second = io.StringIO(), io.StringIO()
    log.configure("INFO", stream=first, file=False)
    setup = log.configure("INFO", stream=second, file=False)
    try:
        logging.getLogger("va.test").info("once")
    finally:
        setup.close()
    assert first.getvalue() == ""
    assert second.getvalue().count("once") == 1
    logging.getLogger("va.test").warning("after close")
    assert "after close" not in second.getvalue()


def test_text_format_and_bad_values(tmp_path: Path) -> None:
    from voice_agent_cli.errors import UsageError

    stream = io.StringIO()
    setup = log.configure("info", fmt="text", file=False, stream=stream)
    try:
        with ids.session_scope("abc"):
            logging.getLogger("va.buffer").info("cache is back")
    finally:
        setup.close()
    assert "INFO    va.buffer: cache is back [session=abc]" in stream.getvalue()
    with pytest.raises(UsageError, match="unknown log level 'loud'"):
        log.configure("loud")
    with pytest.raises(UsageError, match="unknown log format 'xml'"):
        log.configure("INFO", fmt="xml")


def test_library_records_go_to_the_file_not_the_terminal(tmp_path: Path) -> None:
    # The LiveKit SDK logs its own "error while connecting" from a Rust thread after
    # va has already said, in one line, that the server is unreachable.
    path = tmp_path / "va.log"
    stream = io.StringIO()
    setup = log.configure("INFO", fmt="text", file=path, stream=stream)
    try:
        logging.getLogger("livekit").error("error while connecting to a room: refused")
        logging.getLogger("va.rooms").warning("cannot reach the LiveKit server")
    finally:
        setup.close()
    assert "va.rooms: cannot reach the LiveKit server" in stream.getvalue()
    assert "error while connecting" not in stream.getvalue()
    logged = [json.loads(line)["message"] for line in path.read_text().splitlines()]
    assert "error while connecting to a room: refused" in logged

    verbose = io.StringIO()
    setup = log.configure("DEBUG", fmt="text", file=False, stream=verbose)
    try:
        logging.getLogger("livekit").error("shown when asked for everything")
    finally:
        setup.close()
    assert "livekit: shown when asked for everything" in verbose.getvalue()


def test_a_library_logging_after_close_prints_nothing(capfd: pytest.CaptureFixture[str]) -> None:
    log.configure("INFO", file=False).close()
    logging.getLogger("livekit").error("late error from the SDK's own thread")
    assert "late error" not in capfd.readouterr().err

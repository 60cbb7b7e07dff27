"""Observability flags of ``va chat``, run whole: metrics JSON, plain dashboard, JSON logs, OTel."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_va, run_va_process
from tests.gemini_fixtures import TEST_KEY
from voice_agent_cli.testing import fake_gemini as script
from voice_agent_cli.testing.fake_gemini import FakeGemini


@pytest.fixture
def gemini_env(fake_gemini: FakeGemini) -> dict[str, str]:
    return {"GEMINI_API_KEY": TEST_KEY, "GOOGLE_GEMINI_BASE_URL": fake_gemini.base_url}


def test_chat_writes_metrics_shows_plain_events_and_logs_json(
    fake_gemini: FakeGemini, gemini_env: dict[str, str], tmp_path: Path, isolated_env: Path
) -> None:
    fake_gemini.enqueue(script.text("Three hundred thousand km."), script.text("About 8 minutes."))
    out = tmp_path / "metrics.json"
    result = run_va(
        "chat",
        "--dashboard",
        "--metrics-json",
        str(out),
        "--log-format",
        "json",
        "--log-level",
        "info",
        input="How far is the moon?\nhello\nAnd the sun's light?\n",
        env=gemini_env,
    )
    assert result.exit_code == 0, result.stderr
    assert result.stdout.splitlines() == [
        "Three hundred thousand km.",
        "Hello! How can I help you?",
        "About 8 minutes.",
    ]
    snapshot = json.loads(out.read_text())
    turns = {entry["labels"]["source"]: entry["value"] for entry in snapshot["counters"]["turns"]}
    assert turns == {"llm": 2, "prebuffered": 1}
    assert snapshot["cache"]["prebuffered"]["hits"] == 1
    assert snapshot["stages"]["llm_ttft"]["n"] == 2
    assert snapshot["sessions"]["started"] == 1 and snapshot["sessions"]["active"] == 0
    assert snapshot["sessions"]["messages_per_session"]["max"] == 3

    # Not a terminal: the dashboard is one plain line per event, among JSON log lines.
    lines = result.stderr.splitlines()
    assert sum(" [turn] turn " in line for line in lines) == 3
    logs = [json.loads(line) for line in lines if line.startswith("{")]
    session_ids = {record.get("session_id") for record in logs}
    assert len(session_ids) == 1 and None not in session_ids
    completed = [record for record in logs if record["message"].startswith("turn completed")]
    assert [record["source"] for record in completed] == ["llm", "prebuffered", "llm"]
    assert len({record["turn_id"] for record in completed}) == 3
    # ...and the same records are in the log file under VA_HOME.
    file_records = (isolated_env / "logs" / "va.log").read_text().splitlines()
    assert len(file_records) == len(logs)


def test_otel_console_prints_the_turn_spans_on_stderr(
    fake_gemini: FakeGemini, gemini_env: dict[str, str]
) -> None:
    # A real process: OpenTelemetry's SDK keeps process-wide state (warning filters).
    result = run_va_process(
        "chat", "-m", "How far is the moon?", "--otel", "console", env=gemini_env
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout == "echo: How far is the moon?\n"  # stdout stays the reply only
    assert '"name": "va.turn"' in result.stderr
    assert '"name": "va.llm"' in result.stderr
    assert '"va.session_id"' in result.stderr


def test_bad_observability_values_are_usage_errors() -> None:
    result = run_va("chat", "-m", "hi", "--log-level", "loud")
    assert result.exit_code == 2
    assert "observability.log_level" in result.stderr
    result = run_va("chat", "-m", "hi", "--otel", "zipkin")
    assert result.exit_code == 2
    assert "observability.otel" in result.stderr

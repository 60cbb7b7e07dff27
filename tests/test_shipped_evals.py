"""The evals va ships (``evals/``) pass on the default embedded model, as CI runs them.

This is the answer-quality gate: ``va eval evals/`` is run as a user runs it, in a
subprocess, on the default profile and the default model (no ``--model``), and at
least 95 % of the cases must pass. It takes a few minutes on 2 cores.
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli_helpers import run_va_process

EVALS = Path(__file__).resolve().parent.parent / "evals"
MIN_PASS = 0.95


@pytest.mark.slow
def test_the_default_model_passes_the_shipped_evals(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("VA_LOCAL_MODEL")  # the suite's small model: here, the default
    junit = tmp_path / "evals.xml"
    result = run_va_process(
        "eval",
        str(EVALS),
        "--llm",
        "local",
        "--json",
        "--junit",
        str(junit),
        "--min-pass",
        str(MIN_PASS),
        timeout=1800,
    )
    report = json.loads(result.stdout)
    failed = {
        r["case"]: r["failures"] for r in report["results"] if not r["passed"] and not r["skipped"]
    }
    assert result.returncode == 0, f"{report['pass_rate']:.1%} passed; failed: {failed}"
    assert report["cases"] >= 60
    assert report["pass_rate"] >= MIN_PASS
    from voice_agent_cli.llm.catalogue import DEFAULT_MODEL

    assert report["llm"] == f"local:{DEFAULT_MODEL}"
    assert junit.read_text().count("<testcase") == report["cases"]

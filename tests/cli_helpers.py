"""Helpers to run ``va`` the way a user does: in-process (CliRunner) or as a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from typer.testing import CliRunner, Result

from voice_agent_cli.cli.app import app

VA = str(Path(sys.executable).with_name("va"))


def run_va(*args: str, input: str | None = None, env: dict[str, str] | None = None) -> Result:
    """Run ``va ARGS`` in-process; stdout and stderr are kept apart."""
    runner = CliRunner()
    return runner.invoke(app, list(args), input=input, env=env, catch_exceptions=False)


def run_va_process(
    *args: str, input: str | None = None, env: dict[str, str] | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    """Run the installed ``va`` script in a subprocess, as a user would."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [VA, *args],
        input=input,
        capture_output=True,
        text=True,
        env=full_env,
        timeout=timeout,
        check=False,
    )


def json_lines(text: str) -> list[dict[str, Any]]:
    """Parse one JSON object per non-empty line."""
    return [json.loads(line) for line in text.splitlines() if line.strip()]


def assert_one_line_failure(
    result: subprocess.CompletedProcess[str], code: int, message: str, secret: str
) -> None:
    """A failure as a user must see it: its exit code, one line saying what, no traceback,
    and never the secret."""
    assert result.returncode == code, result.stderr
    assert message in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "Traceback" not in result.stderr
    assert secret not in result.stdout + result.stderr

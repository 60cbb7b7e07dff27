"""The ``va`` application shell: help, version, commands not built yet, lazy imports."""

from __future__ import annotations

import subprocess
import sys

from tests.cli_helpers import run_va, run_va_process
from voice_agent_cli import __version__


def test_help_lists_every_command() -> None:
    result = run_va("--help")
    assert result.exit_code == 0
    for command in ("join", "chat", "talk", "tools", "cache", "bench"):
        assert command in result.stdout


def test_version() -> None:
    result = run_va("--version")
    assert result.exit_code == 0
    assert result.stdout.strip() == f"va {__version__}"


def test_no_arguments_shows_help() -> None:
    result = run_va_process()
    assert "Usage" in result.stdout + result.stderr


def test_help_imports_nothing_heavy() -> None:
    """``va --help`` stays instant because no SDK or model library loads for it."""
    heavy = [
        "llama_cpp",
        "google.genai",
        "numpy",
        "mcp",
        "livekit",
        "faster_whisper",
        "piper",
        "diskcache",
        "redis",
        "sounddevice",
        "pydantic",
    ]
    code = (
        "import sys\n"
        "from voice_agent_cli.cli.app import app\n"
        "try:\n    app(['--help'])\nexcept SystemExit:\n    pass\n"
        f"print([m for m in {heavy!r} if m in sys.modules])"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert out.strip().splitlines()[-1] == "[]"


def test_an_unknown_command_is_a_usage_error() -> None:
    result = run_va_process("fly")
    assert result.returncode == 2
    assert "Traceback" not in result.stderr

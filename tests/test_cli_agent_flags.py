"""The shared agent flags: one declaration, spread into each command's options."""

from __future__ import annotations

from pathlib import Path

import typer
from typer.testing import CliRunner

from voice_agent_cli.cli.agent_flags import AgentFlags, agent_command


def _app(received: list[tuple[str, AgentFlags]]) -> typer.Typer:
    app = typer.Typer()

    @app.command()
    @agent_command
    def speak(
        words: str = typer.Option("hi", "--words", help="What to say."), *, flags: AgentFlags
    ) -> None:
        """Say something."""
        received.append((words, flags))

    @app.command()
    def other() -> None:  # a second command, so that Typer keeps subcommand names
        """Nothing."""

    return app


def test_the_flags_arrive_packed_beside_the_commands_own(tmp_path: Path) -> None:
    received: list[tuple[str, AgentFlags]] = []
    out = tmp_path / "m.json"
    result = CliRunner().invoke(
        _app(received),
        ["speak", "--words", "yo", "--llm", "openai", "--model", "m1", "-p", "fast",
         "--log-level", "debug", "--metrics-port", "9100", "--metrics-json", str(out)],
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    [(words, flags)] = received
    assert words == "yo"
    assert flags == AgentFlags(
        llm="openai",
        model="m1",
        profile="fast",
        log_level="debug",
        metrics_port=9100,
        metrics_json=out,
    )


def test_help_lists_the_commands_options_then_the_shared_ones() -> None:
    result = CliRunner().invoke(_app([]), ["speak", "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    shown = [word for word in result.output.split() if word.startswith("--")]
    assert shown[:6] == ["--words", "--llm", "--model", "--system", "--profile", "--log-level"]
    assert "Say something." in result.output


def test_flags_become_profile_keys_with_the_commands_own() -> None:
    flags = AgentFlags(llm="local", system="Be brief.", otel="CONSOLE")
    keys = flags.overrides({"tts.speed": 1.2})
    assert keys["llm.provider"] == "local" and keys["llm.system_prompt"] == "Be brief."
    assert keys["tts.speed"] == 1.2 and keys["observability.otel"] == "console"
    assert keys["observability.log_level"] is None  # not given: the profile decides

"""``va talk``: the local voice loop (not available yet)."""

from __future__ import annotations

import typer

from voice_agent_cli.cli.unavailable import not_available


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help="Talk with the agent: microphone to speaker, or WAV files with --input/--output.",
    )(talk)


def talk() -> None:
    """Talk with the agent (voice loop)."""
    not_available("talk", "the voice pipeline (VAD, faster-whisper, piper) is still being built")

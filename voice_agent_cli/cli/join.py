"""``va join``: the agent in a LiveKit room (not available yet)."""

from __future__ import annotations

import typer

from voice_agent_cli.cli.unavailable import not_available


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help="Join a LiveKit room as a voice agent participant (va join --room demo).",
    )(join)


def join() -> None:
    """Join a LiveKit room."""
    not_available("join", "the LiveKit room integration is still being built")

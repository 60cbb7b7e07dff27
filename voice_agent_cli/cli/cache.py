"""``va cache``: the response buffer (not available yet)."""

from __future__ import annotations

import typer

from voice_agent_cli.cli.unavailable import not_available


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help="The response buffer: stats, list, add, warm, clear, export.",
    )(cache)


def cache() -> None:
    """Response buffer."""
    not_available("cache", "the response buffer is still being built")

"""``va tools``: MCP tool servers (not available yet)."""

from __future__ import annotations

import typer

from voice_agent_cli.cli.unavailable import not_available


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help="MCP tool servers of the profile: list, call, health.",
    )(tools)


def tools() -> None:
    """MCP tools."""
    not_available("tools", "MCP tool servers are still being built")

"""``va bench``: latency benchmarks (not available yet)."""

from __future__ import annotations

import typer

from voice_agent_cli.cli.unavailable import not_available


def register(app: typer.Typer) -> None:
    """Add the command to ``app``."""
    app.command(
        context_settings={"allow_extra_args": True, "ignore_unknown_options": True},
        help="Latency benchmarks: scenarios, percentiles, budgets, JSON for CI.",
    )(bench)


def bench() -> None:
    """Latency benchmarks."""
    not_available("bench", "benchmark scenarios are still being built")

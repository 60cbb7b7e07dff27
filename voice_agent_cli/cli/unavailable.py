"""Commands whose capability is not built yet: they exist, and say so."""

from __future__ import annotations

from voice_agent_cli.errors import NotAvailableYet


def not_available(command: str, what: str) -> None:
    """Fail with a clear message and the "dependency unavailable" exit code."""
    raise NotAvailableYet(f"`va {command}` is not available yet in this version: {what}")

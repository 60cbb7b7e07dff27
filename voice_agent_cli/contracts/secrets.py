"""Secrets: an API key or token read from the environment, which never prints itself.

Held by the settings (:mod:`voice_agent_cli.config` finds them) and handed to
the providers that need them; ``str()`` and ``repr()`` say where the value came
from, never what it is.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Secret:
    """A secret value read from the environment; it never prints itself."""

    value: str = field(repr=False)
    source: str

    def __str__(self) -> str:
        return f"<secret from ${self.source}>"

    __repr__ = __str__

    def masked(self) -> str:
        """A representation safe for any output: where it came from, never what it is."""
        return f"set (from ${self.source}, {len(self.value)} characters)"

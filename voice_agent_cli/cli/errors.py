"""Turn va's errors into one-line messages and exit codes, for every command."""

from __future__ import annotations

import sys
from typing import Any

import typer
from typer.core import TyperGroup

from voice_agent_cli.errors import EXIT_INTERRUPTED, VAError


def fail(message: str, code: int) -> None:
    """Print ``va: message`` on stderr and exit with ``code``."""
    typer.echo(f"va: {message}", err=True)
    sys.stdout.flush()
    raise SystemExit(code)


class VAGroup(TyperGroup):
    """A command group whose commands never end in a traceback.

    A :class:`~voice_agent_cli.errors.VAError` becomes its one-line message and
    exit code; Ctrl-C becomes exit code 130.
    """

    def invoke(self, ctx: Any) -> Any:  # typer vendors click: its Context is private
        try:
            return super().invoke(ctx)
        except VAError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted", EXIT_INTERRUPTED)
        return None

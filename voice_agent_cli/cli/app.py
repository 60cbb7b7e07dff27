"""The ``va`` Typer application: registers each command from its own module.

Command modules import only Typer here; everything heavy (models, SDKs,
pydantic) is imported inside the command that needs it, so ``va --help`` and
``va --version`` stay instant.
"""

from __future__ import annotations

import sys

import typer

from voice_agent_cli import __version__
from voice_agent_cli.cli import (
    bench,
    cache,
    chat,
    evaluate,
    join,
    providers,
    serve,
    sessions,
    talk,
    token,
    tools,
)
from voice_agent_cli.cli.errors import VAGroup

app = typer.Typer(
    name="va",
    cls=VAGroup,
    help="va - a voice agent for the terminal. Offline by default; Gemini, MCP tools and "
    "LiveKit rooms when you want them.",
    no_args_is_help=True,
    add_completion=False,
    context_settings={"help_option_names": ["-h", "--help"]},
    pretty_exceptions_enable=False,
)


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"va {__version__}")
        raise typer.Exit()


@app.callback()
def _main(
    version: bool = typer.Option(
        False,
        "--version",
        "-V",
        help="Print the version and exit.",
        callback=_print_version,
        is_eager=True,
    ),
) -> None:
    """va - a voice agent for the terminal."""


chat.register(app)
talk.register(app)
join.register(app)
serve.register(app)
token.register(app)
tools.register(app)
cache.register(app)
sessions.register(app)
providers.register(app)
bench.register(app)
evaluate.register(app)


def main() -> None:
    """Entry point of the ``va`` console script.

    Arguments are decoded here, once: bytes that are not UTF-8 become U+FFFD
    (:mod:`voice_agent_cli.text`), so no command ever meets a lone surrogate.
    """
    from voice_agent_cli.text import clean_argv

    app(args=clean_argv(sys.argv[1:]), prog_name="va")

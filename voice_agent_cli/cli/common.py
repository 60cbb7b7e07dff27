"""Options and helpers shared by several commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING, Any

import typer

if TYPE_CHECKING:
    from rich.console import Console

    from voice_agent_cli.config import Settings

ProfileOption = typer.Option(
    None,
    "--profile",
    "-p",
    help="Profile name (shipped: default, gemini, ...) or path to a .toml file. Env: VA_PROFILE.",
)
JsonOption = typer.Option(False, "--json", help="Print JSON for scripts instead of text.")
LLMOption = typer.Option(
    None, "--llm", help="LLM provider: local, gemini, openai or auto. Env: VA_LLM."
)
ModelOption = typer.Option(
    None,
    "--model",
    help="The provider's model: a Gemini or OpenAI-compatible model name, or a GGUF file "
    "for the local provider.",
)

#: The profile key ``--model`` sets, by provider.
MODEL_KEYS = {"gemini": "gemini.model", "openai": "openai.model", "local": "local.model_path"}
SystemOption = typer.Option(None, "--system", help="Replace the system prompt.")


def load(
    profile: str | None, overrides: Mapping[str, Any] | None = None, *, model: str | None = None
) -> Settings:
    """The effective settings for a command (flags > VA_* env > profile > defaults).

    ``model`` is the ``--model`` flag: the model of whichever provider ends up
    answering (a Gemini or OpenAI-compatible model name, or a GGUF file for the
    local model).
    """
    from voice_agent_cli.config import load_settings

    settings = load_settings(profile, overrides)
    if model is None:
        return settings
    return load_settings(profile, {**(overrides or {}), MODEL_KEYS[settings.llm_provider]: model})


def stderr_console() -> Console:
    """A Rich console on stderr, so stdout carries only the command's result."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_json(data: object) -> None:
    """One JSON document on stdout, on one line (always encodable, whatever a provider sent)."""
    from voice_agent_cli.text import clean_text

    sys.stdout.write(clean_text(json.dumps(data, ensure_ascii=False, default=str)) + "\n")
    sys.stdout.flush()


@contextmanager
def loading_status(message: str) -> Iterator[Callable[[int, int], None]]:
    """Show a spinner on a terminal while something loads; silent when not a TTY.

    Yields a ``progress(done, total)`` callback that turns the spinner's text
    into a percentage (model assembly reports through it).
    """
    console = stderr_console()
    if not console.is_terminal:
        yield lambda done, total: None
        return
    with console.status(message) as status:

        def progress(done: int, total: int) -> None:
            status.update(f"{message} {100 * done // max(total, 1)}%")

        yield progress

"""Options and helpers shared by several commands."""

from __future__ import annotations

import json
import sys
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from voice_agent_cli.errors import UsageError

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
    None,
    "--llm",
    help="LLM provider: local, gemini, openai, auto, or an installed plugin's "
    "(va providers). Env: VA_LLM.",
)
ModelOption = typer.Option(
    None,
    "--model",
    help="The provider's model: a Gemini or OpenAI-compatible model name; for the local "
    "provider a model name (qwen2.5-coder-0.5b, qwen2.5-coder-1.5b) or a GGUF file.",
)

SystemOption = typer.Option(None, "--system", help="Replace the system prompt.")
#: A stored session to go on with (``va chat``, ``va talk``).
SessionOption = typer.Option(
    None, "--session", help="Resume this session (an id, or the start of one)."
)


def check_one_session(continue_last: bool, session_id: str | None) -> None:
    """``--continue`` and ``--session`` both name a session: refuse both at once (exit 2)."""
    if continue_last and session_id is not None:
        raise UsageError("--continue and --session both name a session to resume: pick one")


#: The LiveKit server of ``va join`` and ``va serve``.
LiveKitUrlOption = typer.Option(
    None, "--url", help="LiveKit server, e.g. ws://localhost:7880. Env: LIVEKIT_URL."
)
LiveKitApiKeyOption = typer.Option(
    None, "--api-key", help="API key. Env: LIVEKIT_API_KEY (the secret: LIVEKIT_API_SECRET)."
)


def load(
    profile: str | None, overrides: Mapping[str, Any] | None = None, *, model: str | None = None
) -> Settings:
    """The effective settings for a command (flags > VA_* env > profile > defaults).

    ``model`` is the ``--model`` flag: the model of whichever provider ends up
    answering (a Gemini or OpenAI-compatible model name; for the local provider a
    catalogued model's name, such as ``qwen2.5-coder-1.5b``, or a GGUF file).
    """
    from voice_agent_cli.config import load_settings

    settings = load_settings(profile, overrides)
    if model is None:
        return settings
    from voice_agent_cli.providers import registry

    name = settings.llm_provider
    key = registry.provider("llm", name).model_key(name)
    return load_settings(profile, {**(overrides or {}), key: model})


def stderr_console() -> Console:
    """A Rich console on stderr, so stdout carries only the command's result."""
    from rich.console import Console

    return Console(stderr=True, highlight=False)


def print_json(data: object) -> None:
    """One JSON document on stdout, on one line (always encodable, whatever a provider sent)."""
    from voice_agent_cli.text import json_line

    sys.stdout.write(json_line(data) + "\n")
    sys.stdout.flush()


def live_console(*, stderr: bool = True) -> Console | None:
    """A Rich console for a live view, or ``None`` when there is no terminal to draw on.

    On stderr (``join``, ``serve``), stdout must be a terminal too: a live view
    redrawn over piped output would corrupt it.
    """
    from rich.console import Console

    console = Console(stderr=stderr, highlight=False)
    if stderr:
        return console if console.is_terminal and sys.stdout.isatty() else None
    return console if console.is_terminal else None


def write_document(document: object, output: Path | None) -> None:
    """A JSON document, indented, to ``output`` (a file) or standard output.

    A file that cannot be written is a :class:`~voice_agent_cli.errors.UsageError`.
    """
    text = json.dumps(document, ensure_ascii=False, indent=2) + "\n"
    if output is None:
        sys.stdout.write(text)
        return
    try:
        output.write_text(text, encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot write {output}: {exc.strerror}") from None


@contextmanager
def loading_status(message: str) -> Iterator[Callable[[int, int], None]]:
    """Show a spinner on a terminal while something loads; silent when not a TTY.

    Yields a ``progress(done, total)`` callback for model assembly (the first
    run on a machine joins a model's chunks): while it reports, the spinner
    gives way to a progress bar with bytes, speed and time left.
    """
    console = stderr_console()
    if not console.is_terminal:
        yield lambda done, total: None
        return
    with console.status(message) as status:
        bar = _AssemblyBar(console, status)
        try:
            yield bar.update
        finally:
            bar.stop()


class _AssemblyBar:
    """The progress bar of a model assembly, shown in place of a spinner while it runs."""

    def __init__(self, console: Console, status: Any) -> None:
        self.console = console
        self.status = status
        self._progress: Any = None
        self._task: Any = None

    def update(self, done: int, total: int) -> None:
        if self._progress is None:
            from rich.progress import (
                BarColumn,
                DownloadColumn,
                Progress,
                TimeRemainingColumn,
                TransferSpeedColumn,
            )

            # Rich shows one live display at a time: pause the spinner meanwhile.
            self.status.stop()
            self._progress = Progress(
                "[progress.description]{task.description}",
                BarColumn(),
                DownloadColumn(),
                TransferSpeedColumn(),
                TimeRemainingColumn(),
                console=self.console,
                transient=True,
            )
            self._progress.start()
            self._task = self._progress.add_task(
                "Assembling the model (once per machine)", total=total
            )
        self._progress.update(self._task, completed=done, total=total)
        if done >= total:
            self.stop()
            self.status.start()

    def stop(self) -> None:
        if self._progress is not None:
            self._progress.stop()
            self._progress = None

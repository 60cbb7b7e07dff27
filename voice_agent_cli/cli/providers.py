"""``va providers``: the installed LLM, STT and TTS providers, which ones the profile uses,
and the models each knows.

The survey itself lives in :mod:`voice_agent_cli.providers.survey`; this module
only prints it. An OpenAI-compatible server is asked for its ``/v1/models``
within ``--timeout``; one that does not answer is a note on its row.

Exit codes: 0 ok; 2 bad input (unknown kind, bad profile); 3 a provider the
profile uses cannot be loaded, or its models cannot be asked for (a server
down, a key missing): the list is printed all the same.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import typer

from voice_agent_cli.cli.common import (
    JsonOption,
    LLMOption,
    ProfileOption,
    load,
    print_json,
)
from voice_agent_cli.errors import DependencyUnavailable, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from voice_agent_cli.providers.survey import ProviderInfo

TITLES = {"llm": "LLM providers", "stt": "Speech to text", "tts": "Text to speech"}


def register(app: typer.Typer) -> None:
    """Add ``va providers`` to ``app``."""
    app.command(
        "providers",
        help="Installed LLM, STT and TTS providers, which the profile uses, and their models.",
    )(providers)


def providers(
    kind: str | None = typer.Argument(None, help="Only this kind: llm, stt or tts."),
    timeout: float = typer.Option(
        3.0, "--timeout", min=0.1, help="Seconds to wait for a server's model list."
    ),
    json_output: bool = JsonOption,
    llm: str | None = LLMOption,
    profile: str | None = ProfileOption,
) -> None:
    """List the providers; exit 3 if one the profile uses is broken or cannot be asked."""
    import asyncio

    from voice_agent_cli.providers import KINDS
    from voice_agent_cli.providers.survey import survey

    if kind is not None and kind not in KINDS:
        raise UsageError(f"unknown kind {kind!r} (llm, stt or tts)")
    settings = load(profile, {"llm.provider": llm})
    kinds = [kind] if kind else list(KINDS)
    rows = asyncio.run(survey(settings, kinds, timeout_s=timeout))
    if json_output:
        print_json({"profile": settings.profile.name, "providers": [r.as_json() for r in rows]})
    else:
        render(rows, _stdout_console())
    troubled = [row for row in rows if row.in_use and row.trouble]
    if troubled:
        first = troubled[0]
        raise DependencyUnavailable(f"{first.kind} provider {first.name}: {first.trouble}")


def render(rows: list[ProviderInfo], console: Console) -> None:
    """One table per kind: the provider (and the package it came from), its use, its models."""
    from rich.table import Table

    for kind, title in TITLES.items():
        of_kind = [row for row in rows if row.kind == kind]
        if not of_kind:
            continue
        table = Table(title=title, title_justify="left", show_edge=False, pad_edge=False)
        table.add_column("provider", no_wrap=True)
        table.add_column("use", no_wrap=True)
        table.add_column("models (> the profile's)", overflow="fold")
        for row in of_kind:
            name = f"[bold]{row.name}[/]" if row.in_use else row.name
            if row.origin != "built-in":
                name += f"\n[dim]{row.origin}[/]"
            table.add_row(name, row.role, _models(row))
        console.print(table)
        console.print()


def _models(row: ProviderInfo) -> str:
    """The known models, the profile's marked ``>``, then where they came from, then any note."""
    if row.error:
        return f"[red]{row.error}[/]"
    known = list(row.models.models)
    if row.model and row.model not in known:
        known.insert(0, row.model)
    lines = [f"> [bold]{m}[/]" if m == row.model else f"  {m}" for m in known]
    if row.models.models:
        lines[-1] += f" [dim]({row.models.source})[/]"
    if row.models.note:
        lines.append(f"[yellow]{row.models.note}[/]")
    return "\n".join(lines)


def _stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False, soft_wrap=False)

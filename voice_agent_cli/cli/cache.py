"""``va cache``: the response buffer - stats, list, add, remove, warm, clear, export.

Every subcommand takes ``--profile`` (the profile names the backend: the disk
cache under VA_HOME or a shared Redis) and prints text for people or, with
``--json``, one JSON document for scripts. The buffer itself lives in
:mod:`voice_agent_cli.buffer`; this module only drives it and prints.
"""

from __future__ import annotations

import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer

from voice_agent_cli.cli.common import (
    JsonOption,
    ProfileOption,
    load,
    print_json,
    stderr_console,
    write_document,
)
from voice_agent_cli.cli.errors import VAGroup
from voice_agent_cli.cli.formatting import duration as _duration
from voice_agent_cli.cli.formatting import plural as _plural
from voice_agent_cli.cli.formatting import shorten as _shorten
from voice_agent_cli.errors import CacheUnavailable, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from voice_agent_cli.config import Settings

cache_app = typer.Typer(
    name="cache",
    cls=VAGroup,
    help="The response buffer: stats, list, add, remove, warm, clear, export.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def register(app: typer.Typer) -> None:
    """Add ``va cache`` and its subcommands to ``app``."""
    app.add_typer(cache_app, name="cache")


# -- commands -----------------------------------------------------------------------


@cache_app.command("stats")
def stats(json_output: bool = JsonOption, profile: str | None = ProfileOption) -> None:
    """Hits and misses per layer, hit rate, evictions, size and lookup latency."""
    import asyncio

    from voice_agent_cli.buffer import contents

    settings = load(profile)
    report = asyncio.run(contents.stats_report(settings))
    if json_output:
        print_json(report)
    else:
        _print_stats(report, _stdout_console())


@cache_app.command("list")
def list_entries(
    limit: int = typer.Option(50, "--limit", "-n", min=0, help="Show at most N cached replies."),
    json_output: bool = JsonOption,
    profile: str | None = ProfileOption,
) -> None:
    """The pre-buffered replies and the cached replies (most recently used first)."""
    import asyncio

    from voice_agent_cli.buffer import contents

    settings = load(profile)
    prebuffered, entries = asyncio.run(contents.listing(settings))
    now = time.time()
    if json_output:
        print_json({"prebuffered": prebuffered, "cache": entries[:limit]})
        return
    _print_listing(prebuffered, entries[:limit], len(entries), now, _stdout_console())


@cache_app.command("add")
def add(
    phrase: str = typer.Argument(..., help="What the user says (or a regex with --regex)."),
    reply: str = typer.Argument(..., help="The reply; may use {time}, {date}, {1}..."),
    regex: bool = typer.Option(False, "--regex", help="PHRASE is a regular expression."),
    json_output: bool = JsonOption,
    profile: str | None = ProfileOption,
) -> None:
    """Add a pre-buffered reply (kept under VA_HOME, used by every profile)."""
    from voice_agent_cli.buffer.custom import CustomResponses

    settings = load(profile)
    custom = CustomResponses()
    item = custom.add(phrase, reply, regex=regex)
    if json_output:
        print_json({"added": item, "file": str(custom.path)})
        return
    trigger = f"pattern {phrase!r}" if regex else repr(phrase)
    typer.echo(f"added: {trigger} -> {reply!r}")
    buffer = settings.profile.buffer
    if not (buffer.enabled and buffer.custom):
        stderr_console().print(
            f"[yellow]note:[/] profile {settings.profile.name!r} does not use custom replies "
            "([buffer] enabled/custom = false)"
        )


@cache_app.command("remove")
def remove(
    phrase: str = typer.Argument(..., help="The phrase or regex given to `va cache add`."),
    json_output: bool = JsonOption,
    profile: str | None = ProfileOption,
) -> None:
    """Remove a pre-buffered reply added with `va cache add`."""
    from voice_agent_cli.buffer.custom import CustomResponses

    load(profile)
    removed = CustomResponses().remove(phrase)
    if not removed:
        raise UsageError(f"no custom reply for {phrase!r} (`va cache list` shows them)")
    if json_output:
        print_json({"removed": removed})
    else:
        typer.echo(f"removed {removed} custom {_plural(removed, 'reply', 'replies')}")


@cache_app.command("clear")
def clear(
    reset_stats: bool = typer.Option(False, "--stats", help="Also reset the statistics."),
    custom: bool = typer.Option(False, "--custom", help="Also remove the `va cache add` replies."),
    json_output: bool = JsonOption,
    profile: str | None = ProfileOption,
) -> None:
    """Forget every cached reply (pre-buffered replies stay)."""
    import asyncio

    from voice_agent_cli.buffer import contents

    settings = load(profile)
    removed = asyncio.run(contents.clear(settings, reset_stats))
    custom_removed = 0
    if custom:
        from voice_agent_cli.buffer.custom import CustomResponses

        custom_removed = CustomResponses().clear()
    if json_output:
        print_json(
            {"removed": removed, "stats_reset": reset_stats, "custom_removed": custom_removed}
        )
        return
    typer.echo(f"cleared {removed} cached {_plural(removed, 'reply', 'replies')}")
    if reset_stats:
        typer.echo("statistics reset")
    if custom:
        typer.echo(f"removed {custom_removed} custom {_plural(custom_removed, 'reply', 'replies')}")


@cache_app.command("warm")
def warm(
    file: Path = typer.Argument(
        ..., help="Questions, one per line (# starts a comment); - reads standard input."
    ),
    llm: str | None = typer.Option(None, "--llm", help="LLM provider: local, gemini or auto."),
    json_output: bool = JsonOption,
    profile: str | None = ProfileOption,
) -> None:
    """Fill the cache: ask each question once through the agent and keep the replies."""
    import asyncio

    settings = load(profile, {"llm.provider": llm})
    questions = _read_questions(file)
    summary = asyncio.run(_warm(settings, questions, show_progress=not json_output))
    if json_output:
        print_json(summary)
    else:
        _print_warm_summary(summary)
    if summary["failed"]:
        raise typer.Exit(1)


@cache_app.command("export")
def export(
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to FILE instead of standard output."
    ),
    profile: str | None = ProfileOption,
) -> None:
    """Everything the buffer holds, as one JSON document (always JSON)."""
    import asyncio

    from voice_agent_cli.buffer import contents

    settings = load(profile)
    document = asyncio.run(contents.export_document(settings))
    write_document(document, output)
    if output is not None:
        stderr_console().print(f"exported {len(document['cache'])} cached replies to {output}")


# -- the work -----------------------------------------------------------------------


async def _warm(settings: Settings, questions: list[str], *, show_progress: bool) -> dict[str, Any]:
    """Ask each question in a fresh conversation; report what became of each reply."""
    from voice_agent_cli.buffer.contents import opened
    from voice_agent_cli.buffer.warm import warm
    from voice_agent_cli.compose.agent import open_agent

    async with opened(settings) as probe:  # fail now, with the reason, if the cache is down
        if probe.cache is None:
            raise CacheUnavailable(
                f"profile {settings.profile.name!r} turns the reply cache off ([cache] enabled)"
            )
    with _progress(len(questions), show_progress) as advance:
        async with open_agent(settings) as agent:
            return await warm(agent, questions, advance)


def _read_questions(file: Path) -> list[str]:
    try:
        text = sys.stdin.read() if str(file) == "-" else file.read_text(encoding="utf-8")
    except OSError as exc:
        raise UsageError(f"cannot read {file}: {exc.strerror}") from None
    except UnicodeDecodeError:
        raise UsageError(f"{file} is not a UTF-8 text file") from None
    questions = [
        line.strip()
        for line in text.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    if not questions:
        raise UsageError(f"{file} holds no questions (one per line)")
    return questions


# -- rendering ----------------------------------------------------------------------


def _stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def _print_stats(report: dict[str, Any], console: Console) -> None:
    from rich.table import Table

    lookups = report["lookups"]
    table = Table(title=f"Response buffer - profile {report['profile']}", title_justify="left")
    table.add_column("layer")
    table.add_column("lookups", justify="right")
    table.add_column("share", justify="right")
    table.add_column("p50", justify="right")
    table.add_column("p95", justify="right")
    table.add_column("p99", justify="right")
    labels = {"prebuffered": "pre-buffered", "cache": "cache", "miss": "miss (LLM)"}
    for layer, label in labels.items():
        figures = report["latency_ms"][layer]
        count = figures["count"]
        share = f"{100 * count / lookups:.1f}%" if lookups else "-"
        table.add_row(
            label, str(count), share, _ms(figures["p50"]), _ms(figures["p95"]), _ms(figures["p99"])
        )
    console.print(table)
    rate = report["hit_rate"]
    lines = [
        f"hit rate: {'-' if rate is None else f'{100 * rate:.1f}%'} "
        f"({report['hits']} of {lookups} lookups)",
        (
            f"cache: {report['backend']} at {report['location']}, "
            f"{report['entries']} of {report['max_entries']} entries, "
            f"TTL {_duration(report['ttl_s'])}"
        )
        if report["cache_enabled"]
        else "cache: off in this profile",
        f"stored {report['stores']}, not cacheable {report['not_cacheable']}, "
        f"evicted {report['evictions']}, expired {report['expired']}, "
        f"busy {report['busy']}, errors {report['errors']}; "
        f"{report['prebuffered_replies']} pre-buffered replies",
    ]
    for line in lines:
        console.print(line, soft_wrap=True)


def _print_listing(
    prebuffered: list[dict[str, Any]],
    entries: list[dict[str, Any]],
    total: int,
    now: float,
    console: Console,
) -> None:
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="Pre-buffered replies", title_justify="left")
    table.add_column("trigger")
    table.add_column("reply")
    table.add_column("from")
    for item in prebuffered:
        trigger = f"/{item['pattern']}/" if "pattern" in item else " | ".join(item["phrases"])
        table.add_row(trigger, item["reply"], item["origin"])
    console.print(table if prebuffered else "Pre-buffered replies: none")
    if not entries:
        console.print("Cached replies: none")
        return
    table = Table(title=f"Cached replies ({total}, most recently used first)", title_justify="left")
    table.add_column("question")
    table.add_column("reply")
    table.add_column("llm")
    table.add_column("age", justify="right")
    table.add_column("expires in", justify="right")
    for entry in entries:
        # What people said is text, never markup ("[phone]" is a redaction marker).
        question = escape(entry["question"] or "(not stored)")
        question += " [dim](follow-up)[/]" if entry["uses_history"] else ""
        table.add_row(
            question,
            escape(_shorten(entry["reply"], 80)),
            escape(entry["llm"]),
            _duration(now - entry["created_at"]),
            _duration(entry["expires_at"] - now),
        )
    console.print(table)


def _print_warm_summary(summary: dict[str, Any]) -> None:
    questions = summary["questions"]
    _stdout_console().print(
        f"warmed {questions} {_plural(questions, 'question', 'questions')}: "
        f"{summary['cached']} cached, {summary['already_buffered']} already buffered, "
        f"{summary['not_cacheable']} not cacheable, {summary['failed']} failed",
        soft_wrap=True,
    )
    for error in summary["errors"]:
        stderr_console().print(f"[red]failed:[/] {error}", markup=True, highlight=False)


@contextmanager
def _progress(total: int, enabled: bool) -> Iterator[Callable[[str], None]]:
    """A Rich progress bar on stderr; yields ``advance(question)``."""
    if not enabled:
        yield lambda question: None
        return
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn

    with Progress(
        TextColumn("warming"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.description}"),
        console=stderr_console(),
    ) as progress:
        task = progress.add_task("starting the agent...", total=total)

        def advance(question: str) -> None:
            progress.update(task, advance=1, description=_shorten(question, 40))

        yield advance


# -- small formatting helpers -------------------------------------------------------


def _ms(value: float | None) -> str:
    if value is None:
        return "-"
    return f"{value:.3f} ms" if value < 10 else f"{value:.0f} ms"

"""``va sessions``: the stored conversations - list, show, export, delete.

Every subcommand takes ``--profile`` (the profile names the store: the SQLite
file under VA_HOME or a shared Redis) and prints text for people or, with
``--json``, one JSON document for scripts. What people said is always shown
redacted (e-mail addresses, phone numbers, secrets), whatever was stored.
The store itself lives in :mod:`voice_agent_cli.sessions`; this module only
drives it and prints.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

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
from voice_agent_cli.cli.formatting import duration, plural, shorten
from voice_agent_cli.errors import UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from voice_agent_cli.config import Settings
    from voice_agent_cli.sessions import SessionInfo, SessionStore, SessionTurn

T = TypeVar("T")

sessions_app = typer.Typer(
    name="sessions",
    cls=VAGroup,
    help="Stored conversations: list, show, export, delete.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)

KindOption = typer.Option(None, "--kind", help="Only sessions of this kind: chat, talk or room.")


def register(app: typer.Typer) -> None:
    """Add ``va sessions`` and its subcommands to ``app``."""
    app.add_typer(sessions_app, name="sessions")


# -- commands -----------------------------------------------------------------------


@sessions_app.command("list")
def list_sessions(
    limit: int = typer.Option(20, "--limit", "-n", min=0, help="Show at most N sessions."),
    kind: str | None = KindOption,
    room: str | None = typer.Option(
        None, "--room", help="Only the sessions of this LiveKit room (one per participant)."
    ),
    json_output: bool = JsonOption,
    profile: str | None = ProfileOption,
) -> None:
    """The sessions, the most recently active first."""
    settings = load(profile)
    chosen = _kind(kind)

    async def work(store: SessionStore) -> list[SessionInfo]:
        return await store.recent(limit=limit, kind=chosen, room=room)

    store_info, found = _with_store(settings, work)
    if json_output:
        print_json({**store_info, "sessions": [_shown_info(info) for info in found]})
        return
    _print_list(found, store_info, _stdout_console())


@sessions_app.command("show")
def show(
    session_id: str = typer.Argument(..., help="A session id, or the start of one."),
    last: int | None = typer.Option(None, "--last", min=1, help="Only the last N turns."),
    json_output: bool = JsonOption,
    profile: str | None = ProfileOption,
) -> None:
    """One session: its description and its turns."""
    settings = load(profile)

    async def work(store: SessionStore) -> tuple[SessionInfo, list[SessionTurn]]:
        from voice_agent_cli.sessions import resolve

        info = await resolve(store, session_id)
        return info, await store.turns(info.id, last=last)

    _, (info, turns) = _with_store(settings, work)
    if json_output:
        print_json({"session": _shown_info(info), "turns": [_shown_turn(t) for t in turns]})
        return
    _print_session(info, turns, _stdout_console())


@sessions_app.command("export")
def export(
    session_ids: list[str] | None = typer.Argument(
        None, help="Session ids (or starts of them); none = every session."
    ),
    output: Path | None = typer.Option(
        None, "--output", "-o", help="Write to FILE instead of standard output."
    ),
    profile: str | None = ProfileOption,
) -> None:
    """Sessions with all their turns, as one JSON document (always JSON)."""
    settings = load(profile)

    async def work(store: SessionStore) -> list[dict[str, Any]]:
        from voice_agent_cli.sessions import resolve

        if session_ids:
            chosen = [await resolve(store, name) for name in dict.fromkeys(session_ids)]
        else:
            chosen = await store.recent()
        return [
            {**_shown_info(info), "turns": [_shown_turn(t) for t in await store.turns(info.id)]}
            for info in chosen
        ]

    store_info, sessions = _with_store(settings, work)
    document = {
        "format": "va-sessions-export",
        "version": 1,
        "exported_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "profile": settings.profile.name,
        **store_info,
        "sessions": sessions,
    }
    write_document(document, output)
    if output is not None:
        count = len(sessions)
        stderr_console().print(
            f"exported {count} {plural(count, 'session', 'sessions')} to {output}"
        )


@sessions_app.command("delete")
def delete(
    session_ids: list[str] | None = typer.Argument(
        None, help="Session ids (or starts of them) to delete."
    ),
    everything: bool = typer.Option(False, "--all", help="Delete every session."),
    json_output: bool = JsonOption,
    profile: str | None = ProfileOption,
) -> None:
    """Delete sessions and their turns (every one with --all)."""
    if bool(session_ids) == everything:
        raise UsageError("name the sessions to delete, or pass --all (not both)")
    settings = load(profile)

    async def work(store: SessionStore) -> tuple[list[str], int]:
        from voice_agent_cli.sessions import resolve

        if everything:
            ids = [info.id for info in await store.recent()]
        else:  # resolve them all first: a typo deletes nothing
            ids = list(
                dict.fromkeys([(await resolve(store, name)).id for name in session_ids or []])
            )
        return ids, await store.delete(ids)

    _, (ids, removed) = _with_store(settings, work)
    if json_output:
        print_json({"deleted": removed, "ids": ids})
        return
    typer.echo(f"deleted {removed} {plural(removed, 'session', 'sessions')}")


# -- the work -----------------------------------------------------------------------


def _kind(kind: str | None) -> Any:
    from voice_agent_cli.sessions.model import KINDS

    if kind is not None and kind not in KINDS:
        raise UsageError(f"--kind must be one of {', '.join(KINDS)}, not {kind!r}")
    return kind


@asynccontextmanager
async def _opened(settings: Settings) -> AsyncIterator[SessionStore]:
    from voice_agent_cli.sessions import open_session_store

    store = open_session_store(settings.profile)
    try:
        yield store
    finally:
        await store.aclose()


def _with_store(
    settings: Settings, work: Callable[[SessionStore], Awaitable[T]]
) -> tuple[dict[str, str], T]:
    """Run ``work`` on the profile's store; also say which store it was."""

    import asyncio

    async def run() -> tuple[dict[str, str], T]:
        async with _opened(settings) as store:
            return {"backend": store.backend, "location": store.location}, await work(store)

    return asyncio.run(run())


def _shown_info(info: SessionInfo) -> dict[str, Any]:
    from voice_agent_cli.privacy import shown

    data = info.as_json()
    data["title"] = shown(info.title) if info.title is not None else None
    return data


def _shown_turn(turn: SessionTurn) -> dict[str, Any]:
    from voice_agent_cli.privacy import shown

    data = turn.as_json()
    for name in ("user", "reply"):
        if data[name] is not None:
            data[name] = shown(data[name])
    return data


# -- rendering ----------------------------------------------------------------------


def _stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


def _print_list(found: list[SessionInfo], store: dict[str, str], console: Console) -> None:
    from rich.markup import escape
    from rich.table import Table

    if not found:
        console.print(f"No sessions ({store['backend']} at {store['location']}).", soft_wrap=True)
        return
    now = time.time()
    table = Table(
        title=f"Sessions ({store['backend']} at {store['location']})", title_justify="left"
    )
    table.add_column("id", no_wrap=True)
    table.add_column("kind", no_wrap=True)
    table.add_column("last active", justify="right", no_wrap=True)
    table.add_column("turns", justify="right", no_wrap=True)
    table.add_column("llm")
    table.add_column("first question")
    for info in found:
        shown = _shown_info(info)
        kind = info.kind + (f" {info.room}" if info.room else "")
        table.add_row(
            info.id,
            escape(kind),
            f"{duration(now - info.updated_at)} ago",
            str(info.turns),
            escape(info.llm or "-"),
            escape(shorten(shown["title"] or "(not stored)", 50)),
        )
    console.print(table)


def _print_session(info: SessionInfo, turns: list[SessionTurn], console: Console) -> None:
    from rich.markup import escape

    described = [
        f"session {info.id}: {info.kind}" + (f" in room {info.room}" if info.room else ""),
        f"started {_when(info.created_at)}, last active {_when(info.updated_at)}, "
        f"{info.turns} {plural(info.turns, 'turn', 'turns')}",
        f"profile {info.profile or '-'}, llm {info.llm or '-'}",
    ]
    for line in described:
        console.print(escape(line), soft_wrap=True)
    if len(turns) < info.turns:
        console.print(f"[dim](the last {len(turns)} turns)[/]")
    for turn in turns:
        shown = _shown_turn(turn)
        console.print()
        who = turn.speaker or "you"
        console.print(
            f"[bold]#{turn.seq}[/] [dim]{_when(turn.at)}[/] [bold]{escape(who)}:[/] "
            + escape(shown["user"] if shown["user"] is not None else "(not stored)"),
            soft_wrap=True,
        )
        facts = [turn.source] + ([turn.llm] if turn.llm else [])
        if "total" in turn.timings:
            facts.append(f"{turn.timings['total']:.0f} ms")
        if turn.tool_calls:
            facts.append("tools: " + ", ".join(turn.tool_calls))
        if turn.interrupted:
            facts.append("interrupted")
        console.print(
            f"[bold]va[/] [dim]({escape(', '.join(facts))})[/]: "
            + escape(shown["reply"] if shown["reply"] is not None else "(not stored)"),
            soft_wrap=True,
        )


def _when(timestamp: float) -> str:
    return datetime.fromtimestamp(timestamp).strftime("%Y-%m-%d %H:%M:%S")

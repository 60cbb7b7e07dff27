"""``va tools``: the MCP tool servers of a profile - list, call, health, serve.

Each subcommand starts the servers it needs (in parallel), does its job and
stops them; ``--json`` prints one JSON document for scripts. The MCP layer
lives in :mod:`voice_agent_cli.tools`; this module only drives it and prints.

Exit codes: 0 ok; 1 the tool reported an error (or the call failed); 2 bad
input (unknown server or tool, arguments that are not a JSON object); 3 a
server could not be started or reached (``health``: any server is not up).
"""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

import typer

from voice_agent_cli.cli.common import JsonOption, ProfileOption, load, print_json, stderr_console
from voice_agent_cli.cli.errors import VAGroup
from voice_agent_cli.errors import ToolError, ToolServerUnavailable, UsageError

if TYPE_CHECKING:
    from rich.console import Console

    from voice_agent_cli.config import Settings
    from voice_agent_cli.contracts.messages import ToolResult
    from voice_agent_cli.tools.mcp import ServerStatus, ToolInfo
    from voice_agent_cli.tools.names import QualifiedName

tools_app = typer.Typer(
    name="tools",
    cls=VAGroup,
    help="MCP tool servers of the profile: list, call, health.",
    no_args_is_help=True,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def register(app: typer.Typer) -> None:
    """Add ``va tools`` and its subcommands to ``app``."""
    app.add_typer(tools_app, name="tools")


# -- commands -----------------------------------------------------------------------


@tools_app.command("list")
def list_tools(json_output: bool = JsonOption, profile: str | None = ProfileOption) -> None:
    """Every tool of every server: server, tool, description, parameters."""
    import asyncio

    settings = load(profile)
    tools, statuses = asyncio.run(_discover(settings, probe=False))
    _warn_down(statuses)
    if json_output:
        print_json([tool.as_json() for tool in tools])
        return
    if not settings.profile.mcp.servers:
        stderr_console().print(f"va: no MCP servers in profile {settings.profile.name!r}")
        return
    render_tools(tools, _stdout_console())


@tools_app.command("call")
def call(
    name: str = typer.Argument(..., help="The tool, as SERVER.TOOL (e.g. va.calculate)."),
    arguments: str = typer.Argument("{}", help="The arguments, as one JSON object."),
    timeout: float | None = typer.Option(
        None, "--timeout", min=0.001, help="Seconds before the call is cancelled."
    ),
    json_output: bool = JsonOption,
    profile: str | None = ProfileOption,
) -> None:
    """Call one tool and print its result (exit code 1 if the tool reports an error)."""
    import asyncio

    from voice_agent_cli.tools.names import QualifiedName

    parsed = parse_arguments(arguments)
    qualified = QualifiedName.parse(name)
    settings = load(profile)
    server = settings.profile.mcp.servers.get(qualified.server)
    if server is None:
        known = ", ".join(settings.profile.mcp.servers) or "none"
        raise UsageError(f"unknown MCP server {qualified.server!r} (servers: {known})")
    if not server.enabled:
        raise UsageError(f"MCP server {qualified.server!r} is disabled in the profile")
    if timeout is not None:
        settings = load(profile, {f"mcp.servers.{qualified.server}.timeout_s": timeout})
    result = asyncio.run(_call(settings, qualified, parsed))
    if json_output:
        print_json({"tool": str(qualified), **_result_json(result)})
    elif not result.is_error:
        typer.echo(result.text)
    if result.is_error:
        message = " ".join(result.text.split())
        raise ToolError(
            message if message.startswith(str(qualified)) else f"{qualified}: {message}"
        )


@tools_app.command("health")
def health(json_output: bool = JsonOption, profile: str | None = ProfileOption) -> None:
    """The state of each server: up, degraded, down or circuit open (exit code 3 if not all up)."""
    import asyncio

    from voice_agent_cli.tools.health import HealthState

    settings = load(profile)
    _, statuses = asyncio.run(_discover(settings, probe=True))
    if json_output:
        print_json([status.as_json() for status in statuses])
    elif not statuses:
        stderr_console().print(f"va: no MCP servers in profile {settings.profile.name!r}")
    else:
        render_health(statuses, _stdout_console())
    failing = [s.server for s in statuses if s.state not in (HealthState.UP, HealthState.DISABLED)]
    if failing:
        raise ToolServerUnavailable(
            f"{len(failing)} of {len(statuses)} MCP servers not up: {', '.join(failing)}"
        )


@tools_app.command("serve")
def serve() -> None:
    """Run va's own MCP server on stdio (for any MCP client: Claude Desktop, IDEs ...)."""
    from voice_agent_cli.tools.server import main

    main()


# -- helpers ------------------------------------------------------------------------


def parse_arguments(text: str) -> dict[str, Any]:
    """The ``arguments`` of ``va tools call``: one JSON object, or a usage error."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise UsageError(
            f"the arguments are not valid JSON ({exc.msg} at column {exc.colno}); "
            """write them as one object, e.g. '{"expression": "2+2"}'"""
        ) from None
    if not isinstance(value, dict):
        raise UsageError(f"the arguments must be a JSON object, not {type(value).__name__}")
    return value


async def _discover(
    settings: Settings, *, probe: bool
) -> tuple[list[ToolInfo], list[ServerStatus]]:
    from voice_agent_cli.tools.mcp import MCPTools

    async with MCPTools.for_profile(settings.profile) as tools:
        if probe:
            await tools.probe()
        return tools.tools(), tools.health()


async def _call(settings: Settings, name: QualifiedName, arguments: dict[str, Any]) -> ToolResult:
    from voice_agent_cli.tools.mcp import MCPTools

    # Only the server that has the tool is started.
    async with MCPTools.for_profile(settings.profile, only=[name.server]) as tools:
        return await tools.call_tool(tools.resolve(str(name)), arguments)


def _result_json(result: ToolResult) -> dict[str, Any]:
    return {"is_error": result.is_error, "text": result.text, "structured": result.structured}


def _warn_down(statuses: list[ServerStatus]) -> None:
    from voice_agent_cli.tools.health import HealthState

    err = stderr_console()
    for status in statuses:
        if status.state == HealthState.DOWN:
            err.print(
                f"va: MCP server {status.server!r} is down: {status.last_error}", markup=False
            )


def _stdout_console() -> Console:
    from rich.console import Console

    return Console(highlight=False)


# -- rendering ----------------------------------------------------------------------

_STATE_STYLES = {
    "up": "green",
    "degraded": "yellow",
    "down": "red",
    "circuit open": "red",
    "starting": "dim",
    "disabled": "dim",
}


def render_tools(tools: list[ToolInfo], console: Console) -> None:
    """The tools as a table: server, tool, description, parameters."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f"{len(tools)} MCP tools", title_justify="left")
    table.add_column("server", style="bold")
    table.add_column("tool", style="cyan")
    table.add_column("description")
    table.add_column("parameters")
    for tool in tools:
        table.add_row(
            escape(tool.server),
            escape(tool.tool),
            escape(tool.description),
            escape(describe_parameters(tool.parameters)),
        )
    console.print(table)


def render_health(statuses: list[ServerStatus], console: Console) -> None:
    """The servers' health as a table, then each server's last error."""
    from rich.markup import escape
    from rich.table import Table

    table = Table(title="MCP servers", title_justify="left")
    table.add_column("server", style="bold")
    table.add_column("state", no_wrap=True)
    for column in ("tools", "start-up", "round trip", "restarts"):
        table.add_column(column, justify="right")
    table.add_column("runs", style="dim", overflow="fold")
    for status in statuses:
        style = _STATE_STYLES.get(str(status.state), "")
        table.add_row(
            escape(status.server),
            f"[{style}]{status.state}[/]" if style else str(status.state),
            str(status.tools),
            _ms(status.startup_ms),
            _ms(status.probe_ms),
            str(status.restarts),
            escape(f"{status.transport}: {status.target}"),
        )
    console.print(table)
    for status in statuses:
        if status.last_error:
            console.print(
                f"[bold]{escape(status.server)}[/]: {escape(status.last_error)}", soft_wrap=True
            )


def describe_parameters(schema: dict[str, Any]) -> str:
    """A tool's parameters in one line: ``expression: string, limit?: integer``."""
    properties = schema.get("properties") or {}
    required = set(schema.get("required") or [])
    parts = []
    for name, spec in properties.items():
        kind = spec.get("type") or "any"
        if kind == "array":
            kind = f"{(spec.get('items') or {}).get('type', 'any')}[]"
        parts.append(f"{name}{'' if name in required else '?'}: {kind}")
    return ", ".join(parts) or "-"


def _ms(value: float | None) -> str:
    return f"{value:.0f} ms" if value is not None else "-"

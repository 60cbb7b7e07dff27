"""From a server's settings to what it takes to reach it, with ``${VARIABLES}`` resolved.

Resolution happens at start-up, never at profile load, so secrets stay in the
environment until the moment a server needs them. Two variables always exist
even when unset: ``VA_HOME`` (va's user directory) and ``VA_PYTHON`` (the
interpreter va runs on, so ``command = "${VA_PYTHON}"`` starts a Python server
with va's own packages). Errors name the variable, never a value.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

from voice_agent_cli.errors import ConfigError
from voice_agent_cli.masking import mask_args
from voice_agent_cli.paths import va_home
from voice_agent_cli.tools.settings import MCPServerSettings

_VARIABLE = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}")


@dataclass(frozen=True)
class StdioLaunch:
    """A command to start; it speaks MCP on its stdin and stdout."""

    command: str
    args: list[str]
    env: dict[str, str] = field(repr=False)
    cwd: str | None = None


@dataclass(frozen=True)
class HttpLaunch:
    """A streamable-HTTP endpoint and the headers to send it."""

    url: str = field(repr=False)
    headers: dict[str, str] = field(repr=False)


Launch = StdioLaunch | HttpLaunch


def builtin_variables() -> dict[str, str]:
    """Variables defined for every profile, overridable from the environment."""
    return {"VA_HOME": str(va_home()), "VA_PYTHON": sys.executable}


def resolve(value: str, environ: Mapping[str, str], *, where: str) -> str:
    """Replace each ``${NAME}`` / ``${NAME:-fallback}`` in ``value``."""

    def substitute(match: re.Match[str]) -> str:
        name, fallback = match.group(1), match.group(2)
        found = environ.get(name) or builtin_variables().get(name)
        if found:
            return found
        if fallback is not None:
            return fallback
        raise ConfigError(f"{where} uses ${{{name}}}, which is not set in the environment")

    return _VARIABLE.sub(substitute, value)


def launch_for(name: str, server: MCPServerSettings, environ: Mapping[str, str]) -> Launch:
    """What starting or reaching server ``name`` takes, variables resolved."""
    where = f"MCP server {name!r}"
    if server.url is not None:
        return HttpLaunch(
            url=resolve(server.url, environ, where=f"{where} url"),
            headers={
                key: resolve(value, environ, where=f"{where} header {key}")
                for key, value in server.headers.items()
            },
        )
    assert server.command is not None  # the settings model guarantees one transport
    env = {
        # Every server va starts knows va's user directory (va's own server keeps notes there).
        "VA_HOME": str(va_home()),
        **{
            key: resolve(value, environ, where=f"{where} env {key}")
            for key, value in server.env.items()
        },
    }
    cwd = server.cwd and str(Path(resolve(server.cwd, environ, where=f"{where} cwd")).expanduser())
    return StdioLaunch(
        command=resolve(server.command, environ, where=f"{where} command"),
        args=[resolve(arg, environ, where=f"{where} args") for arg in server.args],
        env=env,
        cwd=cwd or None,
    )


def describe_target(server: MCPServerSettings) -> str:
    """Where a server runs, safe to print: the command line or the URL, secrets left out."""
    if server.command is not None:
        command = Path(server.command.replace("${VA_PYTHON}", sys.executable)).name
        return " ".join([command, *mask_args(server.args)])
    parts = urlsplit(server.url or "")
    # Credentials hide in userinfo and query strings; show neither.
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"

"""The ``[mcp]`` profile section: which MCP servers va starts, and how it treats them.

The shape is the one MCP users know from other clients, one table per server::

    [mcp.servers.github]                 # stdio: va starts the command
    command = "npx"
    args = ["-y", "@modelcontextprotocol/server-github"]
    env = { GITHUB_PERSONAL_ACCESS_TOKEN = "${GITHUB_TOKEN}" }
    timeout_s = 20

    [mcp.servers.search]                 # streamable HTTP: va connects to the URL
    url = "https://example.com/mcp"
    headers = { Authorization = "Bearer ${SEARCH_TOKEN}" }

Values may reference the environment as ``${NAME}`` (or ``${NAME:-fallback}``);
they are resolved only when the server starts (:mod:`.launch`), so a secret
never sits in the validated profile, and ``--show-config`` masks any literal
``env`` or ``headers`` value, credentials in a ``url`` and secret ``args``
(:mod:`voice_agent_cli.masking`).

When calls to a server fail in a row, its circuit opens: the thresholds are
``[resilience.mcp_breaker]``'s, shared with the other breakers.

This module is imported by :mod:`voice_agent_cli.config`, so it imports
neither the ``mcp`` SDK nor the config module (which would be circular).
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import Field, field_serializer, model_validator

from voice_agent_cli.masking import mask_args, mask_mapping, mask_url
from voice_agent_cli.section import Section

#: Server names become part of LLM-facing tool names (``server__tool``) and of
#: the CLI's ``SERVER.TOOL``, so they hold no dots and no spaces.
SERVER_NAME = re.compile(r"^[A-Za-z0-9_-]{1,32}$")

DEFAULT_FILLER_TEXT = "One moment, let me check."


class MCPServerSettings(Section):
    """One MCP server: a command to start (stdio) or a URL (streamable HTTP)."""

    command: str | None = Field(None, description="executable to start (stdio transport)")
    args: list[str] = Field(default_factory=list, description="arguments of the command")
    env: dict[str, str] = Field(
        default_factory=dict,
        description="extra environment of the command; values may reference ${VARIABLES}",
    )
    cwd: str | None = Field(None, description="working directory of the command")
    url: str | None = Field(None, description="endpoint of a streamable-HTTP server")
    headers: dict[str, str] = Field(
        default_factory=dict, description="HTTP headers; values may reference ${VARIABLES}"
    )
    enabled: bool = True
    timeout_s: float = Field(10.0, gt=0, le=3600, description="max duration of one tool call")
    startup_timeout_s: float = Field(
        10.0, gt=0, le=600, description="max time to start, handshake and list the tools"
    )
    idempotent: bool | list[str] = Field(
        default_factory=list,
        description="tools safe to retry once after a lost connection (true = all of them)",
    )
    description: str = ""

    @model_validator(mode="after")
    def _one_transport(self) -> MCPServerSettings:
        if (self.command is None) == (self.url is None):
            raise ValueError("give either `command` (stdio) or `url` (streamable HTTP), not both")
        if self.url is not None and (self.args or self.env or self.cwd):
            raise ValueError("`args`, `env` and `cwd` apply to a `command`, not to a `url`")
        if self.command is not None and self.headers:
            raise ValueError("`headers` apply to a `url`, not to a `command`")
        return self

    @field_serializer("env", "headers", when_used="json")
    def _hide_literals(self, values: dict[str, str]) -> dict[str, str]:
        return mask_mapping(values)

    @field_serializer("url", when_used="json")
    def _hide_url_credentials(self, url: str | None) -> str | None:
        return mask_url(url) if url is not None else None

    @field_serializer("args", when_used="json")
    def _hide_secret_args(self, args: list[str]) -> list[str]:
        return mask_args(args)

    @property
    def transport(self) -> Literal["stdio", "http"]:
        """How va talks to the server."""
        return "stdio" if self.command is not None else "http"

    def is_idempotent(self, tool: str) -> bool:
        """Whether a call of ``tool`` may be retried automatically."""
        if isinstance(self.idempotent, bool):
            return self.idempotent
        return tool in self.idempotent


class MCPSettings(Section):
    """MCP tool servers, and the agent's behaviour around tool calls."""

    servers: dict[str, MCPServerSettings] = Field(default_factory=dict)
    filler_after_ms: int = Field(
        700,
        ge=0,
        le=60000,
        description="say filler_text when a tool call runs longer than this (0 = never)",
    )
    filler_text: str = DEFAULT_FILLER_TEXT
    restart_backoff_s: float = Field(
        0.5, gt=0, le=60, description="first delay before restarting a dead server (then doubled)"
    )
    restart_backoff_max_s: float = Field(30.0, gt=0, le=3600)

    @model_validator(mode="before")
    @classmethod
    def _check_names(cls, data: Any) -> Any:
        servers = data.get("servers") if isinstance(data, dict) else None
        # Not a table: the field's own validation says so.
        for name in servers if isinstance(servers, dict) else {}:
            if not SERVER_NAME.match(str(name)):
                raise ValueError(
                    f"server name {name!r}: use 1-32 letters, digits, '_' or '-' (no dots)"
                )
        return data

    def enabled_servers(self) -> dict[str, MCPServerSettings]:
        """The servers to start, by name, in profile order."""
        return {name: server for name, server in self.servers.items() if server.enabled}

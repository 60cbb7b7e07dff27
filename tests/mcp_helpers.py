"""Helpers for the MCP tests: real server processes, declared the way a profile does."""

from __future__ import annotations

import asyncio
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from voice_agent_cli.tools.settings import MCPServerSettings, MCPSettings

SERVERS = Path(__file__).parent / "mcp_servers"
MISSING_COMMAND = "/nonexistent/va-test-no-such-mcp-server"


def script(
    name: str, *args: str, marker_dir: Path | None = None, **settings: Any
) -> MCPServerSettings:
    """A test server from ``tests/mcp_servers/<name>.py``, started with this Python."""
    env = dict(settings.pop("env", {}))
    if marker_dir is not None:
        env["MARKER_DIR"] = str(marker_dir)
    return MCPServerSettings(
        command=sys.executable, args=[str(SERVERS / f"{name}.py"), *args], env=env, **settings
    )


def shipped(**settings: Any) -> MCPServerSettings:
    """va's own server, as the default profile declares it."""
    return MCPServerSettings(
        command="${VA_PYTHON}", args=["-m", "voice_agent_cli.tools.server"], **settings
    )


def missing(**settings: Any) -> MCPServerSettings:
    """A server whose command does not exist."""
    return MCPServerSettings(command=MISSING_COMMAND, **settings)


def mcp(servers: dict[str, MCPServerSettings], **policy: Any) -> MCPSettings:
    """An ``[mcp]`` section with fast restarts (tests must not wait half a second)."""
    policy.setdefault("restart_backoff_s", 0.05)
    policy.setdefault("restart_backoff_max_s", 0.2)
    return MCPSettings(servers=servers, **policy)


async def eventually(check: Callable[[], bool], timeout_s: float = 8.0) -> None:
    """Wait until ``check()`` holds (servers react asynchronously); fail after ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError("condition not met in time")
        await asyncio.sleep(0.02)

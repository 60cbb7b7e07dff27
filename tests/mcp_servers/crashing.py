"""A test MCP server that exits in the middle of a call.

Each start appends a line to ``$MARKER_DIR/starts`` and each call of
``crash``/``crash_once`` one to ``$MARKER_DIR/calls``, so tests can see
restarts and retries. ``crash`` always exits mid-call; ``crash_once`` exits
the first time only (then answers), like a server that died and came back.
"""

from __future__ import annotations

import os
from pathlib import Path

from mcp.server.mcpserver import MCPServer

MARKER_DIR = Path(os.environ["MARKER_DIR"])  # required: the tests read what is noted there

server = MCPServer("crashing", log_level="WARNING")


def _note(name: str) -> int:
    path = MARKER_DIR / name
    with path.open("a") as handle:
        handle.write("x\n")
    return len(path.read_text().splitlines())


@server.tool()
def ping() -> str:
    """Answer at once."""
    return "pong from crashing"


@server.tool()
def crash() -> str:
    """Exit the process without answering."""
    _note("calls")
    os._exit(3)


@server.tool()
def crash_once() -> str:
    """Exit without answering the first time ever; answer afterwards."""
    if _note("calls") == 1:
        os._exit(3)
    return "survived"


if __name__ == "__main__":
    _note("starts")
    server.run("stdio")

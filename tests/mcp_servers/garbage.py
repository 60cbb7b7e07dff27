"""A test MCP server that prints garbage on stdout.

With no argument it never speaks MCP at all: every line it reads gets a line
of noise back. With ``--noisy`` it is a working server whose ``chatty`` tool
prints debugging output on stdout (a classic stdio-server bug) before
answering.
"""

from __future__ import annotations

import sys


def pure_garbage() -> None:
    print("Starting up... v1.0 (this is not JSON-RPC)", flush=True)
    for line in sys.stdin:
        print(f"garbage: {len(line)} bytes received <<<", flush=True)


def noisy() -> None:
    # A banner on stdout before the protocol starts: a classic stdio-server bug.
    # (Once running, the SDK diverts print() away from the protocol stream.)
    print("noisy server v0.1 starting", flush=True)
    from mcp.server.mcpserver import MCPServer

    server = MCPServer("noisy", log_level="WARNING")

    @server.tool()
    def chatty() -> str:
        """Answer (after a noisy start)."""
        return "answered despite the noise"

    server.run("stdio")


if __name__ == "__main__":
    if "--noisy" in sys.argv:
        noisy()
    else:
        pure_garbage()

"""A test MCP server that hangs on a call (and can do a few other things on request).

Tools: ``ping`` (answers with its label), ``hang`` (never answers; writes
``$MARKER_DIR/cancelled`` when the client cancels it), ``barrier`` (answers
once ``n`` calls are in flight together), ``grow`` (adds a tool, then
announces the change with ``notifications/tools/list_changed``) and
``api_key`` (the ``X-Api-Key`` header of the request, over HTTP).

``hanging.py --http PORT`` serves streamable HTTP on 127.0.0.1:PORT/mcp.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

import anyio
from mcp.server.mcpserver import Context, MCPServer

LABEL = os.environ.get("SERVER_LABEL", "hanging")
MARKER_DIR = Path(os.environ["MARKER_DIR"]) if "MARKER_DIR" in os.environ else None

server = MCPServer("hanging", log_level="WARNING")
_in_flight = 0
_enough = anyio.Event()


@server.tool()
def ping() -> str:
    """Answer at once."""
    return f"pong from {LABEL}"


@server.tool()
async def hang(seconds: float = 3600) -> str:
    """Sleep (for an hour, by default)."""
    try:
        await anyio.sleep(seconds)
    except anyio.get_cancelled_exc_class():
        if MARKER_DIR is not None:
            (MARKER_DIR / "cancelled").write_text("cancelled\n")
        raise
    return "woke up"


@server.tool()
async def barrier(n: int) -> str:
    """Answer once n calls of this tool are running at the same time."""
    global _in_flight
    _in_flight += 1
    if _in_flight >= n:
        _enough.set()
    with anyio.fail_after(10):
        await _enough.wait()
    return f"{n} calls in flight"


@server.tool()
async def grow(ctx: Context) -> str:
    """Add a tool named ``extra`` and tell the client the list changed."""
    server.add_tool(lambda: "extra!", name="extra", description="A tool added at run time.")
    await ctx.session.send_tool_list_changed()
    return "grown"


@server.tool()
def api_key(ctx: Context) -> str:
    """The X-Api-Key header this request came with."""
    return (ctx.headers or {}).get("x-api-key", "none")


if __name__ == "__main__":
    if "--http" in sys.argv:
        server.run("streamable-http", port=int(sys.argv[sys.argv.index("--http") + 1]))
    else:
        server.run("stdio")

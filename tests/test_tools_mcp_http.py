"""A streamable-HTTP MCP server: headers from the environment, and a server that goes away."""

from __future__ import annotations

import asyncio
import socket
import sys
from collections.abc import AsyncIterator

import pytest

from tests.mcp_helpers import SERVERS, eventually, mcp
from voice_agent_cli.contracts.messages import ToolCall
from voice_agent_cli.tools.health import HealthState
from voice_agent_cli.tools.mcp import MCPTools
from voice_agent_cli.tools.settings import MCPServerSettings


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def http_server() -> AsyncIterator[tuple[int, asyncio.subprocess.Process]]:
    port = free_port()
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        str(SERVERS / "hanging.py"),
        "--http",
        str(port),
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    try:
        for _ in range(200):
            try:
                _, writer = await asyncio.open_connection("127.0.0.1", port)
            except OSError:
                await asyncio.sleep(0.05)
                continue
            writer.close()
            await writer.wait_closed()
            break
        yield port, process
    finally:
        if process.returncode is None:
            process.kill()
        await process.wait()


async def test_headers_reference_the_environment(
    http_server: tuple[int, asyncio.subprocess.Process],
) -> None:
    port, _ = http_server
    server = MCPServerSettings(
        url=f"http://127.0.0.1:{port}/mcp", headers={"X-Api-Key": "${VA_TEST_API_KEY}"}
    )
    async with MCPTools(mcp({"web": server}), environ={"VA_TEST_API_KEY": "k-123"}) as tools:
        status = tools.health()[0]
        assert (status.state, status.transport) == (HealthState.UP, "http")
        assert status.target == f"http://127.0.0.1:{port}/mcp"
        result = await tools.call(ToolCall(id="1", name="web__api_key", arguments={}))
        assert result.text == "k-123"
        assert "k-123" not in repr(tools.health())


async def test_an_http_server_that_goes_away_is_reported_down(
    http_server: tuple[int, asyncio.subprocess.Process],
) -> None:
    port, process = http_server
    server = MCPServerSettings(url=f"http://127.0.0.1:{port}/mcp", timeout_s=3)
    async with MCPTools(mcp({"web": server})) as tools:
        assert (await tools.call(ToolCall(id="1", name="web__ping", arguments={}))).text
        process.kill()
        await process.wait()
        result = await tools.call(ToolCall(id="2", name="web__ping", arguments={}))
        assert result.is_error
        await eventually(lambda: tools.health()[0].state == HealthState.DOWN)


async def test_an_unreachable_url_is_down_not_fatal() -> None:
    server = MCPServerSettings(url=f"http://127.0.0.1:{free_port()}/mcp", startup_timeout_s=3)
    async with MCPTools(mcp({"web": server})) as tools:
        status = tools.health()[0]
        assert status.state == HealthState.DOWN
        assert "cannot reach the server" in (status.last_error or "")

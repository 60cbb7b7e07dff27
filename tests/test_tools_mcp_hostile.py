"""MCP servers that start slowly, talk garbage or crash on every call; many callers at once.

Issue 12, items 4, 5 and 6, each against real server processes:

- a server that misses its start-up timeout was reported ``down: None``; six
  ``va tools call va.add_note`` in parallel on a busy 2-core machine lost four
  notes that way. The reason is now said in words, va's own server starts in
  milliseconds (no SDK import), and notes are written under a lock;
- a server printing garbage on stdout made ``va chat`` show the SDK's pydantic
  tracebacks: now one warning names the server;
- a server that crashed on every call never opened its breaker, because each
  restart reset it: failures now count across restarts.
"""

from __future__ import annotations

import multiprocessing
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

from tests.cli_helpers import VA, run_va
from tests.gemini_fixtures import TEST_KEY
from tests.mcp_helpers import SERVERS, mcp, script, shipped
from voice_agent_cli.contracts.messages import ToolCall
from voice_agent_cli.resilience import BreakerPolicy
from voice_agent_cli.testing.fake_gemini import FakeGemini
from voice_agent_cli.tools.health import HealthState
from voice_agent_cli.tools.mcp import MCPTools
from voice_agent_cli.tools.stdio_server import StdioServer, Tool, ToolAnswer


def call(name: str, **arguments: object) -> ToolCall:
    return ToolCall(id="t", name=name, arguments=dict(arguments))


def _spin(seconds: float) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        pass


@contextmanager
def busy_cpus(workers: int = 4, seconds: float = 60.0) -> Iterator[None]:
    """Keep the CPUs busy (a model loading next door, other tests, a build)."""
    context = multiprocessing.get_context("spawn")
    spinners = [context.Process(target=_spin, args=(seconds,), daemon=True) for _ in range(workers)]
    for spinner in spinners:
        spinner.start()
    try:
        yield
    finally:
        for spinner in spinners:
            spinner.terminate()
            spinner.join()


def test_a_server_that_misses_its_start_up_timeout_is_down_for_a_reason(tmp_path: Path) -> None:
    profile = tmp_path / "slow.toml"
    profile.write_text(
        f'[mcp.servers.slow]\ncommand = "{sys.executable}"\n'
        'args = ["-c", "import time; time.sleep(60)"]\nstartup_timeout_s = 0.5\n'
    )
    started = time.monotonic()
    result = run_va("tools", "call", "slow.anything", "--profile", str(profile))
    assert result.exit_code == 3
    assert result.stderr.startswith(
        "va: MCP server 'slow' is down: did not finish starting within 0.5 s"
    ), result.stderr
    assert "None" not in result.stderr
    assert time.monotonic() - started < 30


@pytest.mark.slow
def test_six_parallel_add_notes_on_a_busy_machine_lose_no_note() -> None:
    with busy_cpus():
        callers = [
            subprocess.Popen(
                [VA, "tools", "call", "va.add_note", f'{{"text": "note number {index}"}}'],
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for index in range(6)
        ]
        outcomes = [caller.communicate(timeout=120) for caller in callers]
    for caller, (stdout, stderr) in zip(callers, outcomes, strict=True):
        assert caller.returncode == 0, stderr
        assert stdout.startswith("Saved note ")
    listed = run_va("tools", "call", "va.list_notes", '{"limit": 20}')
    assert listed.exit_code == 0, listed.stderr
    saved = sorted(line.split(": ", 1)[1] for line in listed.stdout.splitlines())
    assert saved == [f"note number {index}" for index in range(6)]


def test_vas_own_server_starts_without_importing_the_sdk() -> None:
    # The server is started with every agent: its start-up must not pay for the SDK.
    probe = (
        "import sys, voice_agent_cli.tools.server as s; s.build_server(); "
        "print(sorted(m for m in sys.modules if m == 'mcp' or m.startswith(('mcp.', 'pydantic'))))"
    )
    done = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, timeout=60
    )
    assert done.stdout.strip() == "[]"


async def test_vas_own_server_speaks_mcp_to_the_sdks_client() -> None:
    async with MCPTools(mcp({"va": shipped()})) as tools:
        listed = {tool.tool: tool for tool in tools.tools()}
        assert listed["list_notes"].parameters["properties"]["limit"]["maximum"] == 100
        wrong = await tools.call(call("va__list_notes", limit=0))
        assert wrong.is_error and "at least 1" in wrong.text
        as_text = await tools.call(call("va__list_notes", limit="3"))
        assert not as_text.is_error, "a number written as text is accepted, as models send it"
        missing = await tools.call(call("va__calculate"))
        assert missing.is_error and "missing required argument 'expression'" in missing.text
        status = tools.health()[0]
        assert status.state == HealthState.UP


def test_the_stdio_server_answers_malformed_lines_with_json_rpc_errors() -> None:
    def boom() -> ToolAnswer:
        raise RuntimeError("a bug")

    server = StdioServer("t", "1", [Tool("boom", "fails", {"type": "object"}, boom)])
    assert server.handle(b"not json")["error"]["code"] == -32700  # type: ignore[index]
    assert server.handle(b"[1, 2]")["error"]["code"] == -32600  # type: ignore[index]
    unknown = server.handle(b'{"jsonrpc": "2.0", "id": 1, "method": "resources/list"}')
    assert unknown is not None and unknown["error"]["code"] == -32601
    assert server.handle(b'{"jsonrpc": "2.0", "method": "notifications/initialized"}') is None
    failed = server.handle(
        b'{"jsonrpc": "2.0", "id": 2, "method": "tools/call", "params": {"name": "boom"}}'
    )
    assert failed is not None and failed["result"]["isError"] is True
    assert "a bug" in failed["result"]["content"][0]["text"]


def test_garbage_on_stdout_is_one_warning_naming_the_server(
    tmp_path: Path, fake_gemini: FakeGemini
) -> None:
    profile = tmp_path / "noisy.toml"
    profile.write_text(
        f'[mcp.servers.noisy]\ncommand = "{sys.executable}"\n'
        f'args = ["{SERVERS / "garbage.py"}", "--noisy"]\n'
    )
    env = {
        **os.environ,
        "GEMINI_API_KEY": TEST_KEY,
        "GOOGLE_GEMINI_BASE_URL": fake_gemini.base_url,
        "NO_PROXY": "127.0.0.1,localhost",
    }
    done = subprocess.run(
        [VA, "chat", "--profile", str(profile), "-m", "hello friend, how are you?"],
        capture_output=True,
        text=True,
        env=env,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "echo: hello friend, how are you?\n"
    assert "Traceback" not in done.stderr and "validation error" not in done.stderr
    (warning,) = done.stderr.splitlines()
    assert "MCP server 'noisy' wrote something that is not MCP on its stdout" in warning


async def test_a_server_that_crashes_on_every_call_opens_its_breaker(tmp_path: Path) -> None:
    settings = mcp({"crashes": script("crashing", marker_dir=tmp_path)})
    async with MCPTools(settings, breaker_policy=BreakerPolicy(3, 60.0)) as tools:
        connection = tools.connection("crashes")
        results = []
        for _ in range(6):
            await connection.wait_up(8.0)  # each call meets a freshly restarted server
            results.append(await tools.call(call("crashes__crash")))
        assert all(result.is_error for result in results)
        assert "circuit open after 3 failures" in results[-1].text
        assert tools.health()[0].state == HealthState.CIRCUIT_OPEN
    # Three calls reached the server (and killed it); the others were refused at once.
    assert (tmp_path / "calls").read_text().count("x") == 3

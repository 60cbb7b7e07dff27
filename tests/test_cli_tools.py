"""``va tools`` run whole: output, JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli_helpers import run_va
from tests.mcp_helpers import MISSING_COMMAND, SERVERS


def write_profile(tmp_path: Path, servers: dict[str, str]) -> str:
    """A profile with only an [mcp] section, one table per server."""
    tables = "\n".join(f"[mcp.servers.{name}]\n{body}\n" for name, body in servers.items())
    path = tmp_path / "tools.toml"
    path.write_text("[mcp]\nrestart_backoff_s = 0.05\n\n" + tables)
    return str(path)


VA = 'command = "${VA_PYTHON}"\nargs = ["-m", "voice_agent_cli.tools.server"]'
MISSING = f"command = {json.dumps(MISSING_COMMAND)}"
HANGING = (
    f"command = {json.dumps(sys.executable)}\nargs = [{json.dumps(str(SERVERS / 'hanging.py'))}]"
)


@pytest.fixture
def va_profile(tmp_path: Path) -> str:
    return write_profile(tmp_path, {"va": VA})


def test_list_shows_every_tool_in_a_table(va_profile: str) -> None:
    result = run_va("tools", "list", "--profile", va_profile)
    assert result.exit_code == 0, result.stderr
    for text in ("6 MCP tools", "calculate", "expression: string", "timezone?: string", "va"):
        assert text in result.stdout


def test_list_json_has_server_tool_description_and_parameters(va_profile: str) -> None:
    result = run_va("tools", "list", "--json", "--profile", va_profile)
    assert result.exit_code == 0
    tools = {tool["tool"]: tool for tool in json.loads(result.stdout)}
    assert set(tools) == {
        "now",
        "calculate",
        "add_note",
        "list_notes",
        "search_notes",
        "delete_note",
    }
    calculate = tools["calculate"]
    assert calculate["server"] == "va"
    assert calculate["name"] == "va__calculate"
    assert calculate["description"].startswith("Compute an arithmetic expression")
    assert calculate["parameters"]["required"] == ["expression"]


def test_list_reports_a_down_server_and_lists_the_others(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, {"va": VA, "gone": MISSING})
    result = run_va("tools", "list", "--json", "--profile", profile)
    assert result.exit_code == 0
    assert {tool["server"] for tool in json.loads(result.stdout)} == {"va"}
    assert "va: MCP server 'gone' is down: command not found" in result.stderr


def test_call_prints_the_result(va_profile: str) -> None:
    result = run_va("tools", "call", "va.calculate", '{"expression": "2^10"}', "-p", va_profile)
    assert (result.exit_code, result.stdout, result.stderr) == (0, "2^10 = 1024\n", "")


def test_call_json_has_text_structured_content_and_error_flag(va_profile: str) -> None:
    result = run_va(
        "tools", "call", "va.calculate", '{"expression": "6*7"}', "--json", "-p", va_profile
    )
    assert result.exit_code == 0
    assert json.loads(result.stdout) == {
        "tool": "va.calculate",
        "is_error": False,
        "text": "6*7 = 42",
        "structured": {"expression": "6*7", "result": 42},
    }


def test_a_tool_error_exits_non_zero_with_its_message(va_profile: str) -> None:
    result = run_va("tools", "call", "va.calculate", '{"expression": "1/0"}', "-p", va_profile)
    assert (result.exit_code, result.stdout) == (1, "")
    assert result.stderr == "va: va.calculate: division by zero\n"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["va.calculate", "{bad"], "va: the arguments are not valid JSON (Expecting property"),
        (["va.calculate", "[1, 2]"], "va: the arguments must be a JSON object, not list"),
        (["calculate", "{}"], "va: name the tool as SERVER.TOOL (e.g. va.now), not 'calculate'"),
        (["nope.tool", "{}"], "va: unknown MCP server 'nope' (servers: va)"),
        (["va.nope", "{}"], "va: MCP server 'va' has no tool 'nope' (tools: now, calculate,"),
    ],
)
def test_bad_input_is_one_clear_line_and_exit_code_2(
    va_profile: str, args: list[str], message: str
) -> None:
    result = run_va("tools", "call", *args, "--profile", va_profile)
    assert result.exit_code == 2
    assert result.stderr.startswith(message)
    assert result.stderr.count("\n") == 1


def test_a_server_that_cannot_start_is_exit_code_3(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, {"gone": MISSING})
    result = run_va("tools", "call", "gone.tool", "{}", "-p", profile)
    assert result.exit_code == 3
    assert result.stderr.startswith("va: MCP server 'gone' is down: command not found")


def test_call_timeout_cancels_a_hanging_tool(tmp_path: Path) -> None:
    profile = write_profile(tmp_path, {"slow": HANGING})
    result = run_va("tools", "call", "slow.hang", "{}", "--timeout", "0.3", "-p", profile)
    assert result.exit_code == 1
    assert result.stderr == "va: slow.hang failed: timed out after 0.3 s\n"


def test_health_shows_each_servers_state(tmp_path: Path) -> None:
    profile = write_profile(
        tmp_path, {"va": VA, "gone": MISSING, "off": f"{MISSING}\nenabled = false"}
    )
    result = run_va("tools", "health", "--profile", profile)
    assert result.exit_code == 3
    for text in ("va", "up", "gone", "down", "command not found", "off", "disabled"):
        assert text in result.stdout
    assert result.stderr == "va: 1 of 3 MCP servers not up: gone\n"

    as_json = run_va("tools", "health", "--json", "--profile", profile)
    states = {s["server"]: s for s in json.loads(as_json.stdout)}
    assert {name: s["state"] for name, s in states.items()} == {
        "va": "up",
        "gone": "down",
        "off": "disabled",
    }
    assert states["va"]["tools"] == 6 and states["va"]["probe_ms"] is not None


def test_health_of_healthy_servers_is_exit_code_0(va_profile: str) -> None:
    result = run_va("tools", "health", "--json", "--profile", va_profile)
    assert result.exit_code == 0
    assert [s["state"] for s in json.loads(result.stdout)] == ["up"]


def test_the_cli_never_imports_mcp_before_a_tools_command_runs() -> None:
    # `va --help` must stay instant: the mcp SDK is imported only inside commands.
    code = "import sys, voice_agent_cli.cli.app; print('mcp' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"

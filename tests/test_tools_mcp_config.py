"""The [mcp] profile section: its shape, its checks, environment references and secrets."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

from voice_agent_cli.config import load_settings
from voice_agent_cli.errors import ConfigError
from voice_agent_cli.tools.launch import HttpLaunch, StdioLaunch, describe_target, launch_for
from voice_agent_cli.tools.settings import MCPServerSettings


def profile(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_a_profile_may_hold_only_an_mcp_section(tmp_path: Path) -> None:
    path = profile(
        tmp_path,
        """
[mcp.servers.files]
command = "npx"
args = ["-y", "@modelcontextprotocol/server-filesystem", "/tmp"]
timeout_s = 20

[mcp.servers.search]
url = "https://example.com/mcp"
headers = { Authorization = "Bearer ${SEARCH_TOKEN}" }
enabled = false
""",
    )
    settings = load_settings(path, environ={})
    servers = settings.profile.mcp.servers
    assert servers["files"].transport == "stdio"
    assert servers["files"].timeout_s == 20
    assert servers["search"].transport == "http"
    assert servers["search"].timeout_s == 10  # the default
    assert list(settings.profile.mcp.enabled_servers()) == ["files"]
    assert settings.profile.llm.provider == "auto"  # everything else: defaults


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ('command = "x"\nbogus = 1', "unknown key 'mcp.servers.s.bogus'"),
        ('command = "x"\nurl = "http://h/mcp"', "either `command` (stdio) or `url`"),
        ("timeout_s = 5", "either `command` (stdio) or `url`"),
        ('url = "http://h/mcp"\nenv = { A = "b" }', "apply to a `command`"),
        ('command = "x"\ntimeout_s = -1', "bad value for 'mcp.servers.s.timeout_s'"),
    ],
)
def test_bad_server_tables_are_errors_that_name_the_key(
    tmp_path: Path, table: str, message: str
) -> None:
    path = profile(tmp_path, f"[mcp.servers.s]\n{table}\n")
    with pytest.raises(ConfigError, match=str(path)) as raised:
        load_settings(path, environ={})
    assert message in str(raised.value)


def test_server_names_hold_no_dots(tmp_path: Path) -> None:
    path = profile(tmp_path, '[mcp.servers."my.server"]\ncommand = "x"\n')
    with pytest.raises(ConfigError, match="no dots"):
        load_settings(path, environ={})


def test_environment_variables_override_server_keys(tmp_path: Path) -> None:
    path = profile(tmp_path, '[mcp.servers.s]\ncommand = "x"\n')
    settings = load_settings(path, environ={"VA_MCP__SERVERS__S__TIMEOUT_S": "3.5"})
    assert settings.profile.mcp.servers["s"].timeout_s == 3.5


def test_the_shipped_profiles_start_vas_own_server() -> None:
    for name in ("default", "gemini"):
        server = load_settings(name, environ={}).profile.mcp.enabled_servers()["va"]
        launch = launch_for("va", server, {})
        assert isinstance(launch, StdioLaunch)
        assert launch.command == sys.executable
        assert launch.args == ["-m", "voice_agent_cli.tools.server"]
        assert server.is_idempotent("now") and not server.is_idempotent("add_note")


def test_references_are_resolved_at_launch_from_the_environment(isolated_env: Path) -> None:
    server = MCPServerSettings(
        command="${TOOLS_BIN:-/usr/bin}/server",
        args=["--home", "${VA_HOME}"],
        env={"TOKEN": "${MY_TOKEN}", "MODE": "fast"},
    )
    launch = launch_for("s", server, {"MY_TOKEN": "t0k3n"})
    assert isinstance(launch, StdioLaunch)
    assert launch.command == "/usr/bin/server"
    assert launch.args == ["--home", str(isolated_env)]
    assert launch.env == {"VA_HOME": str(isolated_env), "TOKEN": "t0k3n", "MODE": "fast"}
    assert "t0k3n" not in repr(launch)

    http = MCPServerSettings(url="https://h/mcp", headers={"Authorization": "Bearer ${MY_TOKEN}"})
    resolved = launch_for("h", http, {"MY_TOKEN": "t0k3n"})
    assert isinstance(resolved, HttpLaunch)
    assert resolved.headers == {"Authorization": "Bearer t0k3n"}
    assert "t0k3n" not in repr(resolved)


def test_a_missing_variable_is_named_without_any_value() -> None:
    server = MCPServerSettings(command="x", env={"A": "${PRESENT}", "B": "${ABSENT}"})
    with pytest.raises(ConfigError) as raised:
        launch_for("s", server, {"PRESENT": "v4lue"})
    assert str(raised.value) == (
        "MCP server 's' env B uses ${ABSENT}, which is not set in the environment"
    )


def test_show_config_masks_literal_env_and_header_values(tmp_path: Path) -> None:
    path = profile(
        tmp_path,
        """
[mcp.servers.s]
command = "x"
env = { TOKEN = "${MY_TOKEN}", LITERAL = "pl41n-s3cret" }

[mcp.servers.h]
url = "https://h/mcp"
headers = { Authorization = "Bearer abc123" }
""",
    )
    described = json.dumps(load_settings(path, environ={"MY_TOKEN": "t0k3n"}).describe())
    assert "${MY_TOKEN}" in described
    for secret in ("t0k3n", "pl41n-s3cret", "abc123"):
        assert secret not in described


def test_targets_are_shown_without_secrets() -> None:
    assert (
        describe_target(
            MCPServerSettings(command="npx", args=["-y", "@x/server", "--api-key", "k"])
        )
        == "npx -y @x/server --api-key <hidden>"
    )
    assert (
        describe_target(MCPServerSettings(command="srv", args=["--token=abc", "${REF}"]))
        == "srv --token=<hidden> ${REF}"
    )
    assert (
        describe_target(MCPServerSettings(url="https://user:pw@h.example:8443/mcp?key=abc"))
        == "https://h.example:8443/mcp"
    )

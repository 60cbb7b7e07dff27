"""Secrets in configuration are masked wherever it is shown (one helper, every place).

Issue 12, item 3: ``va chat --show-config`` printed MCP credentials in clear: a
password or a token in a server ``url``, ``--api-key sk-...`` and
``--password=...`` in its ``args``. The same masking serves ``redis_url``,
``va tools health`` and the log redactor's idea of what a key looks like.
"""

from __future__ import annotations

import json
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from tests.cli_helpers import run_va
from voice_agent_cli.masking import HIDDEN, mask_args, mask_text, mask_url

SECRETS = (
    "hunter2secret",
    "abc123tok",
    "sk-livekey1234567890123456",
    "sk-abcdefghijklmnop1234",
    "p4ssw0rd!",
    "tok_9876543210",
    "pgpass77",
    "literal-secret",
    "redispw99",
    "ghp_0123456789abcdefghijklmnop",
    "AIzaSyA-very-secret-google-key-0123456789",
)

PROFILE = """
[llm]
system_prompt = "You are va. Internal key: AIzaSyA-very-secret-google-key-0123456789"

[mcp.servers.remote]
url = "https://alice:hunter2secret@mcp.example.com/mcp?token=abc123tok&region=eu"
headers = { Authorization = "Bearer sk-livekey1234567890123456", "X-Trace" = "${TRACE}" }

[mcp.servers.local]
command = "/nonexistent/mytool"
args = ["--api-key", "sk-abcdefghijklmnop1234", "--password=p4ssw0rd!",
        "--token", "tok_9876543210", "--verbose", "--db", "postgres://bob:pgpass77@db.internal/x",
        "ghp_0123456789abcdefghijklmnop"]
env = { API_TOKEN = "literal-secret", HOME2 = "${HOME}" }

[cache]
redis_url = "redis://:redispw99@localhost:6379/0"
"""


def _profile(tmp_path: Path) -> str:
    path = tmp_path / "secrets.toml"
    path.write_text(PROFILE)
    return str(path)


def test_show_config_masks_every_secret_text_and_json(tmp_path: Path) -> None:
    profile = _profile(tmp_path)
    for extra in ([], ["--json"]):
        result = run_va("chat", "--profile", profile, "--show-config", *extra)
        assert result.exit_code == 0, result.stderr
        for secret in SECRETS:
            assert secret not in result.stdout, (secret, extra)
    described = json.loads(run_va("chat", "--profile", profile, "--show-config", "--json").stdout)
    remote, local = described["mcp"]["servers"]["remote"], described["mcp"]["servers"]["local"]
    # What identifies the setting stays readable.
    assert remote["url"] == "https://alice:***@mcp.example.com/mcp?token=***&region=eu"
    assert remote["headers"] == {"Authorization": HIDDEN, "X-Trace": "${TRACE}"}
    assert local["args"] == [
        "--api-key", HIDDEN, "--password=<hidden>", "--token", HIDDEN,
        "--verbose", "--db", "postgres://bob:***@db.internal/x", HIDDEN,
    ]  # fmt: skip
    assert local["env"] == {"API_TOKEN": HIDDEN, "HOME2": "${HOME}"}
    assert described["cache"]["redis_url"] == "redis://:***@localhost:6379/0"


def test_tools_health_shows_targets_without_secrets(tmp_path: Path) -> None:
    result = run_va("tools", "health", "--profile", _profile(tmp_path), env={"TRACE": "t"})
    assert result.exit_code == 3  # neither server can be reached
    for secret in SECRETS:
        assert secret not in result.stdout + result.stderr, secret


def test_urls_keep_what_identifies_them() -> None:
    assert mask_url("https://h.example/mcp") == "https://h.example/mcp"
    assert mask_url("https://h/mcp?page=2&x=${TOKEN}") == "https://h/mcp?page=2&x=${TOKEN}"
    assert mask_url("https://h/mcp?api_key=k3y&page=2") == "https://h/mcp?api_key=***&page=2"
    assert mask_url("http://[::1:bad") == "http://***"
    assert mask_args(["--token", "${GH_TOKEN}", "-v"]) == ["--token", "${GH_TOKEN}", "-v"]
    assert mask_text("see https://u:pw1234@h/x") == "see https://u:***@h/x"


token = st.text(st.sampled_from("abcdefghijklmnopqrstuvwxyzABCDEF0123456789_-"), min_size=8)


@given(token, st.sampled_from(["--api-key", "--token", "--password", "--secret", "--auth"]))
def test_any_secret_after_a_secret_flag_is_hidden(secret: str, flag: str) -> None:
    for args in ([flag, secret], [f"{flag}={secret}"]):
        assert secret not in " ".join(mask_args(args))


@given(token, st.sampled_from(["token", "key", "api_key", "access_token", "sig", "password"]))
def test_any_url_password_or_secret_parameter_is_hidden(secret: str, name: str) -> None:
    for url in (f"https://user:{secret}@host.example/p", f"https://host/p?{name}={secret}&a=1"):
        assert secret not in mask_url(url)

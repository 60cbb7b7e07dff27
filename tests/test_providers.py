"""The provider registry and ``va providers``, as a user meets them.

A real third-party package (``tests/plugins/va-example-provider``, laid out on
``PYTHONPATH`` as an installer would) adds an ``echo`` LLM provider and a
``broken`` one whose import fails; ``va`` runs in a subprocess so that it finds
them through ``importlib.metadata`` like any installed plugin. Model lists come
from the OpenAI-compatible fake and from the real llama.cpp server.
"""

from __future__ import annotations

import json
import os
import socket
from pathlib import Path
from typing import Any

import pytest

from tests.cli_helpers import assert_one_line_failure, run_va, run_va_process
from tests.openai_fixtures import LLAMA_MODEL, LlamaCppServer
from tests.plugin_helpers import EXAMPLE_PLUGIN, install_plugin
from voice_agent_cli.config import load_settings
from voice_agent_cli.errors import ConfigError
from voice_agent_cli.providers import registry
from voice_agent_cli.speech.settings import STTSettings
from voice_agent_cli.speech.stt import FasterWhisperSTT, build_stt
from voice_agent_cli.testing.fake_openai import FakeOpenAI


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> str:
    """A directory where the example provider package is installed."""
    return str(install_plugin(EXAMPLE_PLUGIN, tmp_path_factory.mktemp("site")))


@pytest.fixture
def plugin_env(plugin_path: str) -> dict[str, str]:
    """Environment for a ``va`` that has the example plugin installed."""
    return {
        "PYTHONPATH": os.pathsep.join(filter(None, [plugin_path, os.environ.get("PYTHONPATH")]))
    }


def providers_json(result: Any) -> dict[str, dict[str, Any]]:
    """``va providers --json`` output, by "kind:name"."""
    document = json.loads(result.stdout)
    return {f"{row['kind']}:{row['name']}": row for row in document["providers"]}


# -- the registry ---------------------------------------------------------------------


def test_built_in_providers_are_registered_by_name() -> None:
    assert registry.names("llm")[:3] == ["local", "gemini", "openai"]
    assert registry.names("stt")[:2] == ["faster-whisper", "openai-whisper"]
    assert registry.names("tts")[:1] == ["piper"]
    assert isinstance(build_stt(STTSettings()), FasterWhisperSTT)


def test_a_profile_of_built_in_providers_never_reads_the_installed_packages() -> None:
    """Reading every package's entry points costs tens of ms: only unknown names need it."""
    registry.refresh()
    settings = load_settings("default", {"llm.chain": ["gemini", "openai", "local"]}, environ={})
    assert settings.llm_chain == ["openai", "local"]
    assert registry._plugins.cache_info().currsize == 0
    registry.names("llm")
    assert registry._plugins.cache_info().currsize == 1


def test_an_unknown_engine_is_a_config_error_naming_the_installed_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown stt provider 'vosk' \(installed: faster"):
        load_settings("default", {"stt.engine": "vosk"}, environ={})
    with pytest.raises(ConfigError, match=r"unknown tts provider 'coqui'"):
        load_settings("default", {"tts.engine": "coqui"}, environ={})


# -- a third-party provider -------------------------------------------------------------


def test_a_plugin_llm_answers_va_chat_with_its_own_settings(
    plugin_env: dict[str, str], tmp_path: Path
) -> None:
    profile = tmp_path / "echo.toml"
    profile.write_text('[llm]\nprovider = "echo"\n\n[providers.echo]\nprefix = "you said:"\n')
    result = run_va_process(
        "chat", "--profile", str(profile), "--json", "-m", "Please repeat the word orange",
        env={**plugin_env, "VA_RESILIENCE__FALLBACK": "[]"},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    turn = json.loads(result.stdout)
    assert turn["llm"] == "echo:echo-1" and turn["source"] == "llm"
    assert turn["reply"] == "you said: Please repeat the word orange"

    # --llm picks it on any profile, and --model sets its model
    flagged = run_va_process(
        "chat", "--llm", "echo", "--model", "echo-2", "--json", "-m", "Say the word banana",
        env={**plugin_env, "VA_RESILIENCE__FALLBACK": "[]"},
    )  # fmt: skip
    assert flagged.returncode == 0, flagged.stderr
    assert json.loads(flagged.stdout)["llm"] == "echo:echo-2"


def test_a_broken_plugin_is_a_one_line_error_only_when_it_is_used(
    plugin_env: dict[str, str],
) -> None:
    result = run_va_process("chat", "--llm", "broken", "-m", "Say the word apple", env=plugin_env)
    assert_one_line_failure(
        result, 3, "the llm provider 'broken' from va-example-provider", "no-secret-here"
    )
    assert "va_example_dependency_that_is_not_installed" in result.stderr

    listed = run_va_process("providers", "--json", "llm", env=plugin_env)
    assert listed.returncode == 0, listed.stderr  # installed but unused: a note, not a failure
    rows = providers_json(listed)
    assert rows["llm:broken"]["error"].startswith("the llm provider 'broken'")
    echo = rows["llm:echo"]
    assert (echo["origin"], echo["models"], echo["in_use"]) == (
        "va-example-provider 0.1.0",
        ["echo-1", "echo-2"],
        False,
    )

    used = run_va_process(
        "providers", "--llm", "broken", "llm", env={**plugin_env, "COLUMNS": "300"}
    )
    assert used.returncode == 3
    assert "could not be loaded" in used.stdout  # the table still shows every row
    assert "va: llm provider broken: the llm provider 'broken'" in used.stderr
    assert "Traceback" not in used.stderr


# -- va providers ---------------------------------------------------------------------


def test_va_providers_lists_every_kind_and_what_the_profile_uses() -> None:
    result = run_va("providers", "--json", env={"GEMINI_API_KEY": "", "GOOGLE_API_KEY": ""})
    assert result.exit_code == 0, result.stderr
    rows = providers_json(result)
    local = rows["llm:local"]
    assert (local["role"], local["models_source"]) == ("main", "catalogue")
    assert {"qwen2.5-coder-0.5b", "qwen2.5-coder-1.5b"} <= set(local["models"])
    gemini = rows["llm:gemini"]
    assert gemini["models"][0] == "gemini-3.5-flash-lite"
    assert gemini["note"] == "cannot answer: no API key (set GEMINI_API_KEY or GOOGLE_API_KEY)"
    assert rows["stt:faster-whisper"]["in_use"] and not rows["stt:openai-whisper"]["in_use"]
    assert rows["tts:piper"]["model"] == "en_US-joe-medium"

    text = run_va("providers", env={"GEMINI_API_KEY": "", "GOOGLE_API_KEY": ""})
    assert text.exit_code == 0
    for title in ("LLM providers", "Speech to text", "Text to speech"):
        assert title in text.stdout


def test_va_providers_asks_an_openai_compatible_server_for_its_models(
    fake_openai: FakeOpenAI, openai_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fake_openai, "models", {"fake-model", "llama3.2:3b"})
    env = {**openai_env, "VA_LLM__CHAIN": '["openai", "local"]'}
    result = run_va("providers", "--json", "llm", "--timeout", "10", env=env)
    assert result.exit_code == 0, result.stdout + result.stderr
    rows = providers_json(result)
    assert rows["llm:openai"]["models"] == ["fake-model", "llama3.2:3b"]
    assert (rows["llm:openai"]["role"], rows["llm:local"]["role"]) == ("main", "fallback 1")


def test_va_providers_says_when_the_server_is_unreachable(openai_env: dict[str, str]) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = f"http://127.0.0.1:{sock.getsockname()[1]}/v1"
    env = {**openai_env, "OPENAI_BASE_URL": closed}
    result = run_va_process("providers", "llm", "--timeout", "2", env=env)
    assert result.returncode == 3  # the provider the profile uses cannot be asked
    assert "cannot reach the server at 127.0.0.1" in result.stdout
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr

    unused = run_va_process("providers", "--json", "llm", env={**env, "VA_LLM": "local"})
    assert unused.returncode == 0, unused.stderr
    assert "cannot reach" in providers_json(unused)["llm:openai"]["note"]


def test_va_providers_rejects_an_unknown_kind() -> None:
    result = run_va("providers", "voices")
    assert result.exit_code == 2
    assert "unknown kind 'voices'" in result.stderr


@pytest.mark.slow
def test_va_providers_lists_what_the_real_llama_cpp_server_serves(llama: LlamaCppServer) -> None:
    result = run_va_process(
        "providers", "--json", "llm",
        env={"VA_LLM": "openai", "OPENAI_BASE_URL": llama.base_url, "OPENAI_API_KEY": ""},
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    openai = providers_json(result)["llm:openai"]
    assert (openai["models"], openai["models_source"], openai["note"]) == (
        [LLAMA_MODEL],
        "server",
        None,
    )

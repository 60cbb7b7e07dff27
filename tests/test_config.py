"""Profiles: precedence (flag > VA_* env > profile > default), validation, secrets."""

from __future__ import annotations

from pathlib import Path

import pytest

from voice_agent_cli.config import load_settings, shipped_profiles
from voice_agent_cli.errors import ConfigError


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "mine.toml"
    path.write_text(text)
    return path


def test_shipped_profiles_all_load() -> None:
    names = shipped_profiles()
    assert {"default", "gemini"} <= set(names)
    for name in names:
        assert load_settings(name, environ={}).profile.name == name


def test_default_profile_is_offline_without_a_key() -> None:
    settings = load_settings(environ={})
    assert settings.llm_provider == "local"
    assert settings.gemini_api_key is None


def test_a_key_in_the_environment_selects_gemini_on_auto() -> None:
    settings = load_settings(environ={"GEMINI_API_KEY": "k" * 39})
    assert settings.llm_provider == "gemini"
    assert settings.gemini_api_key is not None
    assert settings.gemini_api_key.source == "GEMINI_API_KEY"


def test_google_api_key_is_the_fallback_variable() -> None:
    settings = load_settings(environ={"GOOGLE_API_KEY": "g" * 39})
    assert settings.gemini_api_key is not None
    assert settings.gemini_api_key.source == "GOOGLE_API_KEY"


def test_precedence_flag_over_env_over_profile_over_default(tmp_path: Path) -> None:
    path = write(tmp_path, "[llm]\ntemperature = 0.1\nmax_output_tokens = 99\n")
    only_profile = load_settings(path, environ={})
    assert only_profile.profile.llm.temperature == 0.1
    assert only_profile.profile.llm.max_retries == 2  # built-in default

    env = {"VA_LLM__TEMPERATURE": "0.5"}
    with_env = load_settings(path, environ=env)
    assert with_env.profile.llm.temperature == 0.5
    assert with_env.profile.llm.max_output_tokens == 99

    with_flag = load_settings(path, {"llm.temperature": 0.9}, environ=env)
    assert with_flag.profile.llm.temperature == 0.9


def test_a_flag_left_unset_does_not_hide_the_environment() -> None:
    settings = load_settings(None, {"llm.provider": None}, environ={"VA_LLM": "gemini"})
    assert settings.profile.llm.provider == "gemini"


def test_short_aliases_and_va_profile() -> None:
    settings = load_settings(
        environ={"VA_PROFILE": "gemini", "VA_GEMINI_MODEL": "gemini-3.8-flash"}
    )
    assert settings.profile.name == "gemini"
    assert settings.profile.gemini.model == "gemini-3.8-flash"


def test_unknown_key_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[llm]\ntemprature = 0.3\n")
    with pytest.raises(ConfigError) as caught:
        load_settings(path, environ={})
    assert str(path) in str(caught.value)
    assert "llm.temprature" in str(caught.value)


def test_bad_value_names_the_file_and_the_key(tmp_path: Path) -> None:
    path = write(tmp_path, "[llm]\nprovider = 'anthropic'\n")
    with pytest.raises(ConfigError, match=r"mine.toml: bad value for 'llm.provider'"):
        load_settings(path, environ={})


def test_bad_environment_value_names_the_variable() -> None:
    with pytest.raises(ConfigError, match="VA_LLM__TEMPERATURE"):
        load_settings(environ={"VA_LLM__TEMPERATURE": "hot"})


def test_unknown_environment_key_names_the_variable() -> None:
    with pytest.raises(ConfigError, match=r"VA_LLM__NOPE.*llm\.nope"):
        load_settings(environ={"VA_LLM__NOPE": "1"})


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    path = write(tmp_path, "[llm\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(path, environ={})


def test_missing_profile_file_and_unknown_name(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="profile file not found"):
        load_settings(tmp_path / "nope.toml", environ={})
    with pytest.raises(ConfigError, match=r"unknown profile 'nope'.*default"):
        load_settings("nope", environ={})


def test_a_profile_may_hold_a_single_section(tmp_path: Path) -> None:
    path = write(tmp_path, "[conversation]\nmax_messages = 6\n")
    settings = load_settings(path, environ={})
    assert settings.profile.conversation.max_messages == 6
    assert settings.profile.gemini.model == "gemini-3.5-flash-lite"


def test_secrets_are_masked_everywhere() -> None:
    secret = "AIzaSy-very-secret-value-1234567890"
    settings = load_settings(environ={"GEMINI_API_KEY": secret})
    described = repr(settings) + str(settings.describe()) + str(settings.gemini_api_key)
    assert secret not in described
    assert settings.describe()["secrets"]["gemini_api_key"].startswith("set (from $GEMINI_API_KEY")

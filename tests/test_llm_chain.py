"""``[llm] chain``: the failover order across providers, and who answered each reply.

The chain's order comes from the profile (resolution rules tested on settings);
end to end, ``va chat`` runs the real google-genai SDK against the local
Gemini-compatible server, the real openai SDK against the OpenAI-compatible fake,
and the embedded model last.
"""

from __future__ import annotations

import pytest

from tests.cli_helpers import json_lines, run_va, run_va_process
from tests.gemini_fixtures import TEST_KEY as GEMINI_KEY
from tests.openai_fixtures import TEST_KEY as OPENAI_KEY
from voice_agent_cli.compose.agent import build_llm
from voice_agent_cli.config import load_settings
from voice_agent_cli.errors import ConfigError
from voice_agent_cli.llm.fallback import FallbackLLM
from voice_agent_cli.resilience import CircuitBreakers
from voice_agent_cli.testing import fake_gemini as gemini_script
from voice_agent_cli.testing import fake_openai as openai_script
from voice_agent_cli.testing.fake_gemini import FakeGemini
from voice_agent_cli.testing.fake_openai import FakeOpenAI

CHAIN = '["gemini", "openai", "local"]'


def chain_of(overrides: dict[str, object], environ: dict[str, str] | None = None) -> list[str]:
    return load_settings("default", overrides, environ=environ or {}).llm_chain


def test_without_a_chain_the_provider_comes_first_then_the_fallbacks() -> None:
    assert chain_of({}) == ["local"]  # auto without a key; the fallback is local itself
    assert chain_of({}, {"GEMINI_API_KEY": "k"}) == ["gemini", "local"]
    assert chain_of({"llm.provider": "openai", "resilience.fallback": ["gemini", "local"]}) == [
        "openai",
        "local",  # Gemini without a key cannot answer: left out
    ]


def test_the_chain_sets_the_order_and_a_named_provider_goes_first() -> None:
    keyed = {"GEMINI_API_KEY": "k"}
    chain = ["gemini", "openai", "local"]
    assert chain_of({"llm.chain": chain}, keyed) == chain
    assert chain_of({"llm.chain": chain}) == ["openai", "local"]  # no Gemini key
    assert chain_of({"llm.chain": chain, "llm.provider": "local"}, keyed) == [
        "local",
        "gemini",
        "openai",
    ]
    # A provider the user names is kept even without its key: its own error says what is missing.
    assert chain_of({"llm.chain": chain, "llm.provider": "gemini"}) == [
        "gemini",
        "openai",
        "local",
    ]


def test_an_unknown_provider_in_the_chain_is_a_config_error_naming_the_installed_ones() -> None:
    with pytest.raises(ConfigError, match=r"unknown llm provider 'olama' \(installed: local"):
        load_settings("default", {"llm.chain": ["olama", "local"]}, environ={})


def test_the_chain_builds_one_failover_llm_with_a_breaker_per_provider() -> None:
    settings = load_settings(
        "default", {"llm.chain": ["gemini", "openai", "local"]}, environ={"GEMINI_API_KEY": "k"}
    )
    breakers = CircuitBreakers()
    llm = build_llm(settings, breakers=breakers)
    assert isinstance(llm, FallbackLLM)
    assert [p.provider for p in llm.providers] == ["gemini", "openai", "local"]
    assert all(p.breaker is not None for p in llm.providers)
    assert len({id(p.breaker) for p in llm.providers}) == 3


def test_show_config_shows_the_chain() -> None:
    result = run_va(
        "chat", "--show-config", "--json", env={"VA_LLM__CHAIN": CHAIN, "GEMINI_API_KEY": "k"}
    )
    assert result.exit_code == 0, result.stderr
    shown = json_lines(result.stdout)[0]
    assert shown["llm_chain"] == ["gemini", "openai", "local"]
    assert shown["llm"]["chain"] == ["gemini", "openai", "local"]


@pytest.mark.slow
def test_each_reply_names_the_provider_of_the_chain_that_answered(
    fake_gemini: FakeGemini, fake_openai: FakeOpenAI
) -> None:
    # Turn 1: Gemini is down (503), the OpenAI-compatible server answers.
    fake_gemini.enqueue(gemini_script.http_error(503))
    fake_openai.enqueue(openai_script.text("Lima is the capital of Peru."))
    # Turn 2: both are down; the embedded model answers.
    fake_gemini.enqueue(gemini_script.http_error(503))
    fake_openai.enqueue(openai_script.server_error(503))
    result = run_va_process(
        "chat",
        "--json",
        input="What is the capital of Peru?\nWhat is two plus two?\n",
        env={
            "VA_LLM__CHAIN": CHAIN,
            "GEMINI_API_KEY": GEMINI_KEY,
            "GOOGLE_GEMINI_BASE_URL": fake_gemini.base_url,
            "OPENAI_API_KEY": OPENAI_KEY,
            "OPENAI_BASE_URL": fake_openai.base_url,
            "VA_OPENAI__MODEL": "fake-model",
            "VA_LOCAL_MODEL": "qwen2.5-coder-0.5b",
            "VA_LLM__MAX_RETRIES": "0",
            "VA_LLM__TEMPERATURE": "0",
            "NO_PROXY": "127.0.0.1,localhost",
        },
        timeout=300,
    )
    assert result.returncode == 0, result.stderr
    openai_turn, local_turn = json_lines(result.stdout)
    assert (openai_turn["llm"], openai_turn["source"]) == ("openai:fake-model", "llm")
    assert openai_turn["reply"] == "Lima is the capital of Peru."
    assert (local_turn["llm"], local_turn["source"]) == ("local:qwen2.5-coder-0.5b", "llm")
    assert "4" in local_turn["reply"] or "four" in local_turn["reply"].lower()
    assert "answering with openai:fake-model" in result.stderr
    assert "answering with local:qwen2.5-coder-0.5b" in result.stderr
    # Each provider was asked once per turn it had a chance at.
    assert len(fake_gemini.requests) == 2
    assert len(fake_openai.requests) == 2

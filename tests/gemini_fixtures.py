"""A local Gemini-compatible server for tests, and a GeminiLLM pointed at it."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import pytest

from voice_agent_cli.contracts.secrets import Secret
from voice_agent_cli.llm.gemini import GeminiLLM
from voice_agent_cli.resilience import RetryPolicy
from voice_agent_cli.testing.fake_gemini import FakeGemini

TEST_KEY = "AIzaSyTEST-key-that-must-never-be-printed-0123"


@pytest.fixture(scope="session")
def gemini_server() -> Iterator[FakeGemini]:
    """One fake server for the session; each test gets it with an empty script."""
    with FakeGemini(api_key=TEST_KEY) as server:
        yield server


@pytest.fixture
def fake_gemini(gemini_server: FakeGemini, monkeypatch: pytest.MonkeyPatch) -> FakeGemini:
    gemini_server.clear()
    monkeypatch.setenv("GOOGLE_GEMINI_BASE_URL", gemini_server.base_url)
    no_proxy_for_local_servers(monkeypatch)
    return gemini_server


@pytest.fixture
def gemini_env(fake_gemini: FakeGemini) -> dict[str, str]:
    """Environment for a ``va`` run on Gemini (the local server), without failover."""
    return {
        "GEMINI_API_KEY": TEST_KEY,
        "GOOGLE_GEMINI_BASE_URL": fake_gemini.base_url,
        "NO_PROXY": "127.0.0.1,localhost",
        # Tests of Gemini's own failures: no failover to the local model.
        "VA_RESILIENCE__FALLBACK": "[]",
    }


async def _no_sleep(seconds: float) -> None:
    return None


def no_proxy_for_local_servers(monkeypatch: pytest.MonkeyPatch) -> None:
    """Requests to 127.0.0.1 go straight there, whatever proxy the machine has."""
    monkeypatch.setenv("NO_PROXY", "127.0.0.1,localhost")
    for proxy in ("HTTP_PROXY", "HTTPS_PROXY", "http_proxy", "https_proxy", "ALL_PROXY"):
        monkeypatch.delenv(proxy, raising=False)


@pytest.fixture
async def gemini(fake_gemini: FakeGemini) -> AsyncIterator[GeminiLLM]:
    llm = GeminiLLM(
        model="gemini-3.5-flash-lite",
        api_key=Secret(TEST_KEY, "GEMINI_API_KEY"),
        timeout_s=2.0,
        retry=RetryPolicy(max_retries=2, sleep=_no_sleep),
    )
    yield llm
    await llm.aclose()

"""Shared fixtures: every test gets its own VA_HOME and a clean environment.

Model files are assembled once into a shared directory (VA_MODELS_DIR) so that
tests do not each rebuild a several-hundred-MB file; loaded models are shared
per session through session-scoped fixtures. Tests run the small embedded model
(VA_LOCAL_MODEL) unless they ask for another.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from hypothesis import settings

# The cores are shared with other work: per-example deadlines would only measure that.
# `pytest --hypothesis-profile=thorough` digs deeper, for a change to a parser.
settings.register_profile("va", deadline=None)
settings.register_profile("thorough", deadline=None, max_examples=2000)
settings.load_profile("va")

#: Environment variables that would leak the developer's setup into tests.
_SCRUBBED = (
    "GEMINI_API_KEY",
    "GOOGLE_API_KEY",
    "GOOGLE_GEMINI_BASE_URL",
    "GOOGLE_GENAI_USE_VERTEXAI",
    "OPENAI_API_KEY",
    "OPENAI_BASE_URL",
    "OPENAI_ORG_ID",
    "OPENAI_PROJECT_ID",
    "OPENAI_CUSTOM_HEADERS",
    "LIVEKIT_URL",
    "LIVEKIT_API_KEY",
    "LIVEKIT_API_SECRET",
)


#: The embedded model of the tests that need one but not the default one.
SUITE_MODEL = "qwen2.5-coder-0.5b"


def shared_models_dir() -> Path:
    """Where assembled model files are kept for every test run on this machine."""
    configured = os.environ.get("VA_TEST_MODELS_DIR")
    if configured:
        return Path(configured)
    from platformdirs import user_cache_path

    return user_cache_path("va-tests", appauthor=False) / "models"


@pytest.fixture(autouse=True)
def isolated_env(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fresh VA_HOME per test, no VA_* or secret variables from outside."""
    for name in list(os.environ):
        if name.startswith("VA_") or name in _SCRUBBED:
            monkeypatch.delenv(name, raising=False)
    home = tmp_path / "va-home"
    monkeypatch.setenv("VA_HOME", str(home))
    monkeypatch.setenv("VA_MODELS_DIR", str(shared_models_dir()))
    # Tests that only need *an* embedded model use the small, fast one; the default
    # (qwen2.5-coder-1.5b) is exercised by the shipped evals (test_shipped_evals.py).
    monkeypatch.setenv("VA_LOCAL_MODEL", SUITE_MODEL)
    yield home


from tests.gemini_fixtures import (  # noqa: E402, F401
    fake_gemini,
    gemini,
    gemini_env,
    gemini_server,
)
from tests.openai_fixtures import (  # noqa: E402, F401
    fake_openai,
    llama,
    llama_server,
    openai_env,
    openai_llm,
    openai_server,
)
from tests.pulse_fixtures import laptop, virtual_audio  # noqa: E402, F401
from tests.redis_server import shared_redis  # noqa: E402, F401
from tests.speech_fixtures import espeak, say, voice_loaded, whisper_loaded  # noqa: E402, F401

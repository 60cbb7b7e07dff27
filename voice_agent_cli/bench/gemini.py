"""Bench scenario ``gemini``: text turns through the agent on Gemini, via the google-genai SDK.

Where the requests go, in order:

1. ``GOOGLE_GEMINI_BASE_URL`` when set (a Gemini-compatible server), with the
   key from ``GEMINI_API_KEY``/``GOOGLE_API_KEY`` (a placeholder if none);
2. the real Gemini API when a key is set;
3. otherwise a local :class:`~voice_agent_cli.testing.fake_gemini.FakeGemini`
   that the scenario starts, so that it always runs offline: then it measures
   va's and the SDK's own overhead (HTTP, SSE parsing, the agent), not a model.

The ``target`` figure says which one was measured. Stages: ``llm_ttft`` and
``total``, each turn in a fresh conversation, buffer and tools off.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from voice_agent_cli.bench import BenchOptions, ScenarioRun
from voice_agent_cli.bench._turns import plain_chat_settings, sample_turns
from voice_agent_cli.compose.agent import open_agent, retry_policy
from voice_agent_cli.contracts.secrets import Secret
from voice_agent_cli.llm.gemini import GeminiLLM
from voice_agent_cli.observe.redaction import redact
from voice_agent_cli.testing.fake_gemini import FakeGemini

#: Used against a base URL given without a key: such servers are local test servers.
PLACEHOLDER_KEY = "va-bench-placeholder-key"


async def run(options: BenchOptions) -> ScenarioRun:
    """Measure ``options.iterations`` Gemini turns after ``options.warmup`` ones."""
    settings = plain_chat_settings(options.profile, {"llm.provider": "gemini"})
    profile = settings.profile
    result = ScenarioRun()
    with _target(settings.gemini_api_key is not None, profile.gemini.base_url) as target:
        base_url, target_name = target
        key = settings.gemini_api_key or Secret(PLACEHOLDER_KEY, "placeholder")
        llm = GeminiLLM(
            model=profile.gemini.model,
            api_key=key,
            base_url=base_url,
            api_version=profile.gemini.api_version,
            timeout_s=profile.llm.request_timeout_s,
            retry=retry_policy(settings),
        )
        async with open_agent(settings, llm=llm) as agent:
            await sample_turns(agent, options, result)
        result.figures["target"] = target_name
        result.figures["model"] = profile.gemini.model
    return result


@contextmanager
def _target(has_key: bool, profile_base_url: str | None) -> Iterator[tuple[str | None, str]]:
    """Where to send requests, and a description of it (never with a key in it)."""
    base_url = profile_base_url or os.environ.get("GOOGLE_GEMINI_BASE_URL") or None
    if base_url:
        yield base_url, f"base URL {redact(base_url)}"
        return
    if has_key:
        yield None, "the Gemini API"
        return

    with FakeGemini() as fake:
        yield fake.base_url, "a local FakeGemini started by the bench (no key, no base URL)"

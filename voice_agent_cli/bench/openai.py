"""Bench scenario ``openai``: text turns on an OpenAI-compatible server, via the openai SDK.

Where the requests go, in order:

1. the profile's ``openai.base_url``, else ``OPENAI_BASE_URL`` (Ollama, llama.cpp's
   server, vLLM...), with the key from ``openai.api_key_env`` if one is set;
2. OpenAI itself when ``OPENAI_API_KEY`` is set;
3. otherwise a local :class:`~voice_agent_cli.testing.fake_openai.FakeOpenAI` that
   the scenario starts, so that it always runs offline: then it measures va's and
   the SDK's own overhead (HTTP, SSE parsing, the agent), not a model.

The ``target`` figure says which. Stages: ``llm_ttft`` and ``total`` (each turn in
a fresh conversation, buffer and tools off, replies capped at ``MAX_OUTPUT_TOKENS``),
``provider_ttft`` (the server's own time to first text) and ``va_overhead`` (what
va adds on top of it).
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager

from voice_agent_cli.bench import BenchOptions, ScenarioRun
from voice_agent_cli.bench._turns import plain_chat_settings, sample_turns
from voice_agent_cli.compose.agent import open_agent
from voice_agent_cli.observe.redaction import redact
from voice_agent_cli.testing.fake_openai import FakeOpenAI

MAX_OUTPUT_TOKENS = 64


async def run(options: BenchOptions) -> ScenarioRun:
    """Measure ``options.iterations`` turns after ``options.warmup`` ones."""
    # No failover: a turn the embedded model answered would be measured as the server's.
    overrides = {
        "llm.provider": "openai",
        "llm.max_output_tokens": MAX_OUTPUT_TOKENS,
        "resilience.fallback": [],
        "llm.chain": [],
    }
    settings = plain_chat_settings(options.profile, overrides)
    result = ScenarioRun()
    with _target(settings.openai_api_key is not None, settings.profile.openai.base_url) as target:
        base_url, model, target_name = target
        settings = plain_chat_settings(
            options.profile, {**overrides, "openai.base_url": base_url, "openai.model": model}
        )
        async with open_agent(settings) as agent:
            await sample_turns(agent, options, result)
            result.figures["model"] = agent.llm.model
        result.figures["target"] = target_name
    result.figures["max_output_tokens"] = MAX_OUTPUT_TOKENS
    return result


@contextmanager
def _target(
    has_key: bool, profile_base_url: str | None
) -> Iterator[tuple[str | None, str | None, str]]:
    """Where to send requests, the model to ask for there (None: the profile's), and a
    description of it (never with a key in it)."""
    base_url = profile_base_url or os.environ.get("OPENAI_BASE_URL") or None
    if base_url:
        yield base_url, None, f"base URL {redact(base_url)}"
        return
    if has_key:
        yield None, None, "the OpenAI API"
        return

    with FakeOpenAI() as fake:
        yield (
            fake.base_url,
            "fake-model",
            "a local FakeOpenAI started by the bench (no server configured)",
        )

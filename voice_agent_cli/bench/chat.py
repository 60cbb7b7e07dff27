"""Bench scenario ``chat``: text turns through the agent on the embedded local LLM.

Each sample is one whole turn (:meth:`Agent.reply`) in a fresh conversation,
with the buffer and the tool servers off so that every turn is answered by the
model that ships with va. Stages:

- ``llm_ttft``: from the request to the first generated text;
- ``total``: the whole turn, until the last token.

The first (warm-up) turns load the model and fill llama.cpp's caches; they are
not reported. Replies are capped at ``MAX_OUTPUT_TOKENS`` so that the scenario
measures the model's speed, not the length of its answers.
"""

from __future__ import annotations

import time

from voice_agent_cli.bench import BenchOptions, ScenarioRun
from voice_agent_cli.bench._turns import plain_chat_settings, sample_turns
from voice_agent_cli.compose.agent import open_agent

MAX_OUTPUT_TOKENS = 64


async def run(options: BenchOptions) -> ScenarioRun:
    """Measure ``options.iterations`` local-LLM turns after ``options.warmup`` ones."""
    settings = plain_chat_settings(
        options.profile, {"llm.provider": "local", "llm.max_output_tokens": MAX_OUTPUT_TOKENS}
    )
    result = ScenarioRun()
    started = time.perf_counter()
    async with open_agent(settings) as agent:
        # open_agent loads the model: the time a user waits before the first turn.
        result.figures["agent_open_s"] = round(time.perf_counter() - started, 3)
        await sample_turns(agent, options, result)
        result.figures["llm"] = agent.llm.name
    result.figures["max_output_tokens"] = MAX_OUTPUT_TOKENS
    result.figures["turns"] = options.iterations
    return result

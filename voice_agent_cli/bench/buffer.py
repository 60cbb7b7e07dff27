"""Bench scenario ``buffer``: the response buffer, measured end to end through the agent core.

Each sample is one whole :meth:`Agent.run_turn <voice_agent_cli.core.agent.Agent.run_turn>`
(normalisation, lookup, history update, events) with a scripted
:class:`~voice_agent_cli.testing.FakeLLM` behind it, so what is measured is
the buffer's path and nothing else. Stages:

- ``prebuffered``: greetings, thanks, "what time is it" ... answered from the
  profile's pre-buffered replies (target: p99 under 1 ms);
- ``cache_hit``: questions the LLM answered once, asked again (target: p99
  under 5 ms), on the profile's backend (a throw-away directory for disk, a
  throw-away key prefix for Redis);
- ``miss_lookup``: what the buffer adds to a turn that goes to the LLM.

Figures include the hit rate over a scripted set of conversations with the
repeats real users make (greetings, common questions, follow-ups, thanks).
"""

from __future__ import annotations

import gc
import tempfile
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

from voice_agent_cli.bench import BenchOptions, ScenarioRun
from voice_agent_cli.buffer.build import profile_entries
from voice_agent_cli.buffer.disk import open_disk_store
from voice_agent_cli.buffer.policy import CachePolicy
from voice_agent_cli.buffer.prebuffered import PrebufferedEntry
from voice_agent_cli.buffer.redis_store import RedisReplyStore
from voice_agent_cli.buffer.response_buffer import ResponseBuffer
from voice_agent_cli.buffer.settings import CacheSettings
from voice_agent_cli.buffer.store import ReplyStore
from voice_agent_cli.compose.agent import agent_options
from voice_agent_cli.config import Settings, load_settings
from voice_agent_cli.contracts.events import TurnCompleted
from voice_agent_cli.core.agent import Agent
from voice_agent_cli.core.conversation import Conversation
from voice_agent_cli.llm.base import LLMRequest
from voice_agent_cli.testing import FakeLLM

#: Utterances the shipped default profile answers from its pre-buffered replies.
PREBUFFERED_UTTERANCES = (
    "Hello!",
    "Thank you!",
    "What can you do?",
    "Um, what's the time?",
    "Hi there.",
    "Goodbye.",
)

#: Self-contained questions: cacheable under the default rule.
CACHE_QUESTIONS = (
    "What is the capital of France?",
    "How many legs does a spider have?",
    "Who wrote Pride and Prejudice?",
    "What is the boiling point of water in Fahrenheit?",
    "How do I reverse a list in Python?",
    "What does a voice assistant do?",
    "Why is the sky blue?",
    "How far is the moon from the earth?",
    "What is the largest planet in the solar system?",
    "Can you recommend a good book about history?",
    "How do you say good morning in Spanish?",
    "What is the square root of 144?",
)

#: Conversations as people have them: greetings, popular questions (asked in
#: several sessions, worded differently), follow-ups that must not be reused
#: across conversations, time questions, thanks.
SCRIPTED_SESSIONS: tuple[tuple[str, ...], ...] = (
    ("Hello!", "What is the capital of France?", "And what about Spain?", "Thanks!", "Bye."),
    ("Hi.", "Um, what's the capital of France?", "Why is the sky blue?", "Tell me more about it.",
     "Thank you."),
    ("Hey there!", "What can you do?", "How do I reverse a list in Python?", "Why?", "Thanks."),
    ("Hello.", "Why is the sky blue?", "What time is it?", "What is the capital of France?",
     "Goodbye."),
    ("Hi!", "How do I reverse a list in Python?", "Can you show me another way?",
     "What's the largest planet in the solar system?", "Thanks a lot!"),
    ("Hello!", "What's the largest planet in the solar system?", "How big is it?",
     "How far is the moon from the earth?", "Bye!"),
    ("Hey.", "How far is the moon from the Earth?", "Who wrote Pride and Prejudice?",
     "What else did she write?", "Thank you!"),
    ("Hello.", "Who wrote Pride and Prejudice?", "What is the capital of France?",
     "Um, why is the sky blue?", "Goodbye."),
)  # fmt: skip


def _answer(request: LLMRequest) -> str:
    """A reply of realistic length (two short spoken sentences)."""
    question = next((m.content for m in reversed(request.messages) if m.role == "user"), "")
    return f"Here is a short answer to {question!r}. I hope that it helps you today."


async def run(options: BenchOptions) -> ScenarioRun:
    """Measure the buffer through the agent core (see the module doc)."""
    settings = load_settings(options.profile)
    result = ScenarioRun()
    async with _bench_store(settings.profile.cache) as store:
        llm = FakeLLM(responder=_answer)
        buffer = ResponseBuffer(
            prebuffered=_prebuffered_entries(settings),
            store=store,
            policy=CachePolicy.from_settings(settings.profile.cache),
            ttl_s=settings.profile.cache.ttl_s,
            max_entries=max(settings.profile.cache.max_entries, len(CACHE_QUESTIONS)),
        )
        agent = Agent(llm, agent_options(settings), buffer=buffer)
        try:
            await _prebuffered_stage(agent, options, result)
            await _cache_stage(agent, options, result)
            await store.clear()
            await _scripted_figures(agent, llm, result)
        finally:
            await buffer.aclose()  # closes the store too
            await agent.aclose()
        result.figures["backend"] = store.backend
        result.figures["process_stats"] = buffer.snapshot().as_json()
    return result


async def _prebuffered_stage(agent: Agent, options: BenchOptions, result: ScenarioRun) -> None:
    conversation = agent.new_conversation()
    gc.collect()
    for index in range(options.warmup + options.iterations):
        text = PREBUFFERED_UTTERANCES[index % len(PREBUFFERED_UTTERANCES)]
        elapsed, completed = await _timed_turn(agent, text, conversation)
        _expect(completed, "prebuffered", text)
        if index >= options.warmup:
            result.sample("prebuffered", elapsed)


async def _cache_stage(agent: Agent, options: BenchOptions, result: ScenarioRun) -> None:
    conversation = agent.new_conversation()
    for question in CACHE_QUESTIONS:  # the LLM answers each once; the buffer stores it
        _, completed = await _timed_turn(agent, question, conversation)
        _expect(completed, "llm", question)
        result.sample("miss_lookup", completed.timings.get("buffer_lookup", 0.0))
    gc.collect()
    for index in range(options.warmup + options.iterations):
        question = CACHE_QUESTIONS[index % len(CACHE_QUESTIONS)]
        elapsed, completed = await _timed_turn(agent, question, conversation)
        _expect(completed, "cache", question)
        if index >= options.warmup:
            result.sample("cache_hit", elapsed)


async def _scripted_figures(agent: Agent, llm: FakeLLM, result: ScenarioRun) -> None:
    """Hit rate over the scripted sessions, starting from an empty cache."""
    calls_before = len(llm.requests)
    sources: Counter[str] = Counter()
    for session in SCRIPTED_SESSIONS:
        conversation = agent.new_conversation()
        for text in session:
            _, completed = await _timed_turn(agent, text, conversation)
            sources[completed.source] += 1
    turns = sum(sources.values())
    hits = sources["prebuffered"] + sources["cache"]
    result.figures["scripted"] = {
        "sessions": len(SCRIPTED_SESSIONS),
        "turns": turns,
        "hit_rate": round(hits / turns, 4),
        "prebuffered_hits": sources["prebuffered"],
        "cache_hits": sources["cache"],
        "llm_turns": sources["llm"],
        "llm_calls": len(llm.requests) - calls_before,
    }


async def _timed_turn(
    agent: Agent, text: str, conversation: Conversation
) -> tuple[float, TurnCompleted]:
    """One whole turn, timed from the call to the last event."""
    completed: TurnCompleted | None = None
    begin = time.perf_counter()
    async for event in agent.run_turn(text, conversation=conversation):
        if isinstance(event, TurnCompleted):
            completed = event
    elapsed = (time.perf_counter() - begin) * 1000
    assert completed is not None
    return elapsed, completed


def _expect(completed: TurnCompleted, source: str, text: str) -> None:
    if completed.source != source:
        raise RuntimeError(
            f"bench buffer: {text!r} was answered by {completed.source}, expected {source}"
        )


def _prebuffered_entries(settings: Settings) -> list[PrebufferedEntry]:
    """The profile's replies, or the default profile's if it has none to measure."""
    entries = profile_entries(settings.profile.buffer)
    if not entries and settings.profile.name != "default":
        entries = profile_entries(load_settings("default").profile.buffer)
    return entries


@asynccontextmanager
async def _bench_store(cache: CacheSettings) -> AsyncIterator[ReplyStore]:
    """A throw-away store on the profile's backend, so the user's cache is never touched."""
    if cache.backend == "redis":
        prefix = f"{cache.redis_prefix}:bench:{uuid.uuid4().hex[:8]}"
        redis_store = RedisReplyStore(cache.redis_url, prefix=prefix)
        try:
            yield redis_store
        finally:
            await _reopened_clear(cache.redis_url, prefix)
        return

    with tempfile.TemporaryDirectory(prefix="va-bench-") as tmp:
        yield open_disk_store(Path(tmp) / "cache")


async def _reopened_clear(url: str, prefix: str) -> None:
    store = RedisReplyStore(url, prefix=prefix)
    try:
        await store.clear()
        await store.reset_counters()
    finally:
        await store.aclose()

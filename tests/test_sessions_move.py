"""Sessions that move: several ``va chat --session ID`` processes on one real Redis.

Issue 17, item 4. A session started by one process is continued by four
others at once, each a real ``va`` process answering lines from stdin with
the real google-genai SDK against the local Gemini-compatible server; the
session store and the reply cache are one real redis-server. Checked: every
turn any process answered is in the session exactly once, numbered 1..N with
no gap, each process's turns in its own order; and replies cached by one
process answer the others (the shared cache's hit rate is printed, it
depends on how the processes happen to interleave).
"""

from __future__ import annotations

import asyncio
import json
import os
import uuid

import pytest

from tests.cli_helpers import VA, json_lines, run_va_process
from tests.redis_server import RedisServer
from voice_agent_cli.sessions.redis_store import RedisSessionStore
from voice_agent_cli.testing import fake_gemini as script
from voice_agent_cli.testing.fake_gemini import FakeGemini

#: Standalone questions: the reply cache keys them on their words, not the history.
QUESTIONS = [
    "What is the capital of France?",
    "How tall is Mount Everest?",
    "Who wrote Hamlet?",
    "What is the boiling point of water?",
    "How many legs does a spider have?",
    "What is the largest ocean?",
]
PROCESSES = 4


async def chat_process(env: dict[str, str], session: str, lines: list[str]) -> list[dict]:
    process = await asyncio.create_subprocess_exec(
        VA,
        "chat",
        "--session",
        session,
        "--json",
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    out, err = await asyncio.wait_for(process.communicate("\n".join(lines).encode()), 120)
    assert process.returncode == 0, err.decode()
    return [json.loads(line) for line in out.decode().splitlines() if line.strip()]


@pytest.mark.slow
async def test_processes_appending_to_one_session_lose_and_repeat_nothing(
    shared_redis: RedisServer, fake_gemini: FakeGemini, gemini_env: dict[str, str]
) -> None:
    prefix = f"va-move-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        **gemini_env,
        "VA_LLM__MAX_RETRIES": "0",
        "VA_CACHE__BACKEND": "redis",
        "VA_CACHE__REDIS_URL": shared_redis.url,
        "VA_CACHE__REDIS_PREFIX": f"{prefix}:cache",
        "VA_SESSIONS__REDIS_PREFIX": f"{prefix}:sessions",
    }
    started = run_va_process("chat", "--json", "-m", "Let us start.", env=env)
    assert started.returncode == 0, started.stderr
    session = json_lines(started.stdout)[0]["session"]

    # Each process asks every question, in its own order (rotated), so they overlap.
    orders = [QUESTIONS[i:] + QUESTIONS[:i] for i in range(PROCESSES)]
    answered = await asyncio.gather(*(chat_process(env, session, o) for o in orders))

    store = RedisSessionStore(shared_redis.url, prefix=f"{prefix}:sessions")
    try:
        info = await store.get(session)
        turns = await store.turns(session)
    finally:
        await store.aclose()
    total = 1 + PROCESSES * len(QUESTIONS)
    assert info is not None and info.turns == total
    assert [t.seq for t in turns] == list(range(1, total + 1))  # no gap, no repeat
    kept = [t.turn_id for t in turns]
    assert len(set(kept)) == total
    for replies, order in zip(answered, orders, strict=True):
        ids = [r["turn_id"] for r in replies]
        assert all(r["session"] == session for r in replies)
        assert [r["user"] for r in replies] == order
        # Each process's turns are all there, once, in the order it answered them.
        assert [t for t in kept if t in set(ids)] == ids

    hits = sum(r["source"] == "cache" for replies in answered for r in replies)
    asked = PROCESSES * len(QUESTIONS)
    print(f"\nshared reply cache: {hits}/{asked} hits ({hits / asked:.0%}) across {PROCESSES}")

    # A fifth process, later: every question was answered by someone, so all are hits.
    late = await chat_process(env, session, QUESTIONS)
    assert [r["source"] for r in late] == ["cache"] * len(QUESTIONS)


def test_a_users_rate_limit_holds_across_va_chat_processes(
    shared_redis: RedisServer, fake_gemini: FakeGemini, gemini_env: dict[str, str]
) -> None:
    prefix = f"va-limits-{uuid.uuid4().hex[:8]}"
    env = {
        **os.environ,
        **gemini_env,
        "VA_RATE_LIMITS__PER_USER": "2/hour",
        "VA_RATE_LIMITS__STORAGE": "redis",
        "VA_RATE_LIMITS__REDIS_URL": shared_redis.url,
        "VA_RATE_LIMITS__REDIS_PREFIX": prefix,
    }
    fake_gemini.enqueue(script.text("One."), script.text("Two."), script.text("Three."))
    first = run_va_process("chat", "--json", "-m", "First question?", env=env)
    second = run_va_process("chat", "--json", "-m", "Second question?", env=env)
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    # A third process is refused: the two turns before it were counted in Redis.
    third = run_va_process("chat", "-m", "Third question?", env=env)
    assert third.returncode != 0
    assert "2/hour per user" in third.stderr and "Traceback" not in third.stderr
    # Counted per process (memory), the same third question is answered.
    alone = run_va_process(
        "chat", "-m", "Third question?", env={**env, "VA_RATE_LIMITS__STORAGE": "memory"}
    )
    assert alone.returncode == 0, alone.stderr

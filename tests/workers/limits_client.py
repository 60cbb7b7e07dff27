"""Use va's rate limits from a process of its own: ``python limits_client.py ...``.

Arguments: REDIS_URL MODE COUNT GO_FILE, MODE one of
- ``requests``: COUNT requests of user alice, then COUNT expert consultations;
  prints one line per answer: ``request ok``, ``request refused``, ``expert ok`` ...
- ``slots``: COUNT tool calls of alice at once, each holding its slot 0.3 s;
  prints ``start END`` wall-clock times, one line per call.
Waits until GO_FILE exists so that every process starts at once.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from voice_agent_cli.core.settings import RateLimitSettings
from voice_agent_cli.errors import RateLimited
from voice_agent_cli.ratelimit import RateLimits

SETTINGS = RateLimitSettings(
    per_user="20/minute", expert_consultations="6/minute", concurrent_tool_calls_per_user=3
)


def requests(limits: RateLimits, count: int) -> None:
    for _ in range(count):
        try:
            limits.check_request("alice")
            print("request ok", flush=True)
        except RateLimited:
            print("request refused", flush=True)
    for _ in range(count):
        print(
            "expert", "ok" if limits.allow_expert_consultation("alice") else "refused", flush=True
        )


async def slots(limits: RateLimits, count: int) -> None:
    async def call() -> None:
        async with limits.tool_call_slot("alice"):
            start = time.time()
            await asyncio.sleep(0.3)
            print(start, time.time(), flush=True)

    await asyncio.gather(*(call() for _ in range(count)))


async def main(url: str, mode: str, count: int) -> None:
    limits = RateLimits(SETTINGS, redis_url=url)
    assert limits.shared
    try:
        if mode == "requests":
            requests(limits, count)
        else:
            await slots(limits, count)
    finally:
        await limits.aclose()


if __name__ == "__main__":
    url, mode, count, go = sys.argv[1:5]
    while not Path(go).exists():
        time.sleep(0.005)
    asyncio.run(main(url, mode, int(count)))

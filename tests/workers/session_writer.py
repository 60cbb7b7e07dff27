"""Append turns to one session from a process of its own: ``python session_writer.py ...``.

Arguments: BACKEND (sqlite|redis) LOCATION (file or URL) SESSION_ID WRITER COUNT GO_FILE.
Says it is ready (creates GO_FILE.ready-WRITER once its imports are done), waits until
GO_FILE exists (so every writer starts at once, however loaded the machine), then appends COUNT
turns with ids ``WRITER-0`` ... and prints the seq each got, one per line.
"""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

from voice_agent_cli.sessions.model import SessionTurn
from voice_agent_cli.sessions.redis_store import RedisSessionStore
from voice_agent_cli.sessions.sqlite_store import SQLiteSessionStore
from voice_agent_cli.sessions.store import SessionStore


async def main(backend: str, location: str, session_id: str, writer: str, count: int) -> None:
    store: SessionStore = (
        RedisSessionStore(location) if backend == "redis" else SQLiteSessionStore(Path(location))
    )
    try:
        for index in range(count):
            turn = SessionTurn(
                turn_id=f"{writer}-{index}", user=f"{writer} asks {index}", reply="ok", source="llm"
            )
            stored = await store.append(session_id, turn)
            print(stored.seq, flush=True)
    finally:
        await store.aclose()


if __name__ == "__main__":
    backend, location, session_id, writer, count, go = sys.argv[1:7]
    Path(f"{go}.ready-{writer}").touch()
    while not Path(go).exists():
        time.sleep(0.005)
    asyncio.run(main(backend, location, session_id, writer, int(count)))

"""The disk backend: several processes at once, and damaged or unusable cache directories."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

from tests.buffer_helpers import turn
from voice_agent_cli.buffer import ResponseBuffer, build_buffer
from voice_agent_cli.buffer.disk import DiskReplyStore, open_disk_store
from voice_agent_cli.compose.agent import open_agent
from voice_agent_cli.config import load_settings
from voice_agent_cli.testing import FakeLLM

WRITER = textwrap.dedent(
    """
    import asyncio, sys, time
    from pathlib import Path
    from voice_agent_cli.buffer import ResponseBuffer
    from voice_agent_cli.buffer.disk import open_disk_store
    from voice_agent_cli.contracts.turns import TurnContext

    directory, name, count, other = Path(sys.argv[1]), sys.argv[2], int(sys.argv[3]), sys.argv[4]

    def turn(text):
        return TurnContext(text=text, llm="fake:x", system_prompt="s", history=())

    async def main():
        buffer = ResponseBuffer(store=open_disk_store(directory), max_entries=40)
        (directory.parent / f"ready-{name}").touch()
        while not (directory.parent / "go").exists():  # start together
            time.sleep(0.001)
        for index in range(count):
            await buffer.store(turn(f"Who is agent {name} {index}?"), f"{name} {index}")
            await buffer.lookup(turn(f"Who is agent {other} {index}?"))
        await buffer.aclose()

    asyncio.run(main())
    """
)


def test_two_processes_share_one_cache_directory(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    asyncio.run(open_disk_store(directory).aclose())  # created once, as `va` did earlier
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])}
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(directory), name, "150", other],
            env=env,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name, other in (("red", "blue"), ("blue", "red"))
    ]
    deadline = time.monotonic() + 60
    while not all((tmp_path / f"ready-{n}").exists() for n in ("red", "blue")):
        assert time.monotonic() < deadline, "the writers did not start"
        assert all(w.poll() is None for w in writers), [w.communicate() for w in writers]
        time.sleep(0.01)
    (tmp_path / "go").touch()
    for writer in writers:
        _, stderr = writer.communicate(timeout=120)
        assert writer.returncode == 0, stderr

    async def check() -> None:
        store = DiskReplyStore(directory)
        try:
            entries = await store.entries()
            counters = await store.read_counters()
        finally:
            await store.aclose()
        # Every write landed, the bound held, and the evictions account for the rest.
        assert len(entries) == 40
        assert all(e.reply.split()[0] in ("red", "blue") for e in entries)
        assert counters["stores"] == 300
        assert counters["evictions"] == 260
        assert counters["lookups"] == 300
        assert counters.get("errors", 0) == 0

    asyncio.run(check())


def test_a_damaged_cache_is_moved_aside_and_rebuilt(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "cache"
    (directory / "replies").mkdir(parents=True)
    (directory / "replies" / "cache.db").write_bytes(b"this is not a database" * 100)

    async def use_it() -> str | None:
        with caplog.at_level(logging.WARNING, logger="va.buffer"):
            buffer = ResponseBuffer(store=open_disk_store(directory))
        try:
            await buffer.store(turn("What is the capital of France?"), "Paris.")
            hit = await buffer.lookup(turn("What is the capital of France?"))
        finally:
            await buffer.aclose()
        return hit.reply if hit else None

    assert asyncio.run(use_it()) == "Paris."
    (warning,) = caplog.records
    assert "moved it to" in warning.getMessage()
    (damaged,) = tmp_path.glob("cache.damaged-*")
    assert (damaged / "replies" / "cache.db").read_bytes().startswith(b"this is not")


async def test_a_file_in_the_way_of_the_cache_is_moved_aside(tmp_path: Path) -> None:
    directory = tmp_path / "cache"
    directory.write_text("not a directory")
    store = open_disk_store(directory)
    try:
        assert directory.is_dir()
        assert await store.size() == 0
    finally:
        await store.aclose()


async def test_an_unusable_cache_location_leaves_the_agent_answering_uncached(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("the cache directory would have to be inside this file")
    profile = tmp_path / "profile.toml"
    profile.write_text(
        f'[cache]\ndirectory = "{blocker / "cache"}"\n'
        '[[buffer.responses]]\nphrases = ["hello"]\nreply = "Hi!"\n'
    )
    settings = load_settings(str(profile))
    llm = FakeLLM(responder=lambda request: "Paris.")
    with caplog.at_level(logging.WARNING, logger="va.buffer"):
        async with open_agent(settings, llm=llm) as agent:
            assert (await agent.reply("What is the capital of France?")).source == "llm"
            assert (await agent.reply("What is the capital of France?")).source == "llm"
            assert (await agent.reply("Hello!")).source == "prebuffered"  # still there
    assert len(llm.requests) == 2
    (warning,) = [r for r in caplog.records if r.name == "va.buffer"]
    assert "reply cache unavailable" in warning.getMessage()


def test_the_va_cache_commands_report_an_unusable_location(tmp_path: Path) -> None:
    from voice_agent_cli.errors import CacheUnavailable

    blocker = tmp_path / "a-file"
    blocker.write_text("x")
    profile = tmp_path / "profile.toml"
    profile.write_text(f'[cache]\ndirectory = "{blocker / "cache"}"\n')
    with pytest.raises(CacheUnavailable, match="a-file"):
        build_buffer(load_settings(str(profile)), strict=True)


async def test_entries_are_json_not_pickle(tmp_path: Path) -> None:
    import sqlite3

    buffer = ResponseBuffer(store=open_disk_store(tmp_path / "cache"))
    await buffer.store(turn("What is the capital of France?"), "Paris.")
    await buffer.aclose()
    with sqlite3.connect(tmp_path / "cache" / "replies" / "cache.db") as db:
        ((value,),) = db.execute("SELECT value FROM Cache").fetchall()
    db.close()
    assert json.loads(value)["reply"] == "Paris."

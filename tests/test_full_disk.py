"""A full disk: nothing lost, nothing moved aside, no traceback, the right exit code.

Issue 12, item 2: with VA_HOME on a small file system that filled up, va moved
the cache aside as "damaged", printed ``--- Logging error ---`` tracebacks,
raised an OSError at close, and exited 1 although every turn was answered.
These tests put VA_HOME on a real tmpfs of 1 MiB, fill it, and run ``va`` as a
user would; the log file also meets the kernel's own ENOSPC on ``/dev/full``.
"""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
from pathlib import Path

import pytest

from tests.buffer_helpers import turn
from tests.cli_helpers import VA
from tests.gemini_fixtures import TEST_KEY
from tests.small_fs import fill, small_filesystem
from voice_agent_cli.buffer import ResponseBuffer
from voice_agent_cli.buffer.disk import open_disk_store
from voice_agent_cli.observe import log
from voice_agent_cli.testing.fake_gemini import FakeGemini


def _va(
    *args: str, env: dict[str, str], stdin: str | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [VA, *args],
        input=stdin,
        capture_output=True,
        text=True,
        env={**os.environ, **env},
        timeout=120,
        check=False,
    )


def _questions(env: dict[str, str]) -> list[str]:
    listed = _va("cache", "list", "--json", env=env)
    assert listed.returncode == 0, listed.stderr
    return sorted(entry["question"] for entry in json.loads(listed.stdout)["cache"])


def test_a_full_disk_costs_the_cache_writes_and_nothing_else(
    tmp_path: Path, fake_gemini: FakeGemini
) -> None:
    with small_filesystem(tmp_path / "small") as disk:
        env = {
            "VA_HOME": str(disk / "home"),
            "GEMINI_API_KEY": TEST_KEY,
            "GOOGLE_GEMINI_BASE_URL": fake_gemini.base_url,
            "NO_PROXY": "127.0.0.1,localhost",
            "VA_RESILIENCE__FALLBACK": "[]",
            "VA_LOG_LEVEL": "info",  # the log file gets written to, and fails
        }
        first = _va("chat", "-m", "What is the capital of France?", env=env)
        assert first.returncode == 0, first.stderr
        filler = fill(disk)

        full = _va("chat", stdin="What is the capital of France?\nWho wrote Hamlet?\n", env=env)
        assert full.returncode == 0, "every turn was answered"
        assert full.stdout.splitlines() == [
            "echo: What is the capital of France?",
            "echo: Who wrote Hamlet?",
        ]
        assert "Traceback" not in full.stderr and "Logging error" not in full.stderr
        warnings = [
            line for line in full.stderr.splitlines() if "WARNING" in line or "warning" in line
        ]
        assert any("reply cache unavailable" in line for line in warnings), full.stderr
        kept = [line for line in warnings if "turns of session" in line]
        assert len(kept) == 1 and "session store unavailable" in kept[0], full.stderr
        # One warning per fault: the cache, the session store, and the log file if its
        # page was full too.
        assert len(warnings) <= 3, full.stderr
        assert not list((disk / "home").glob("cache.damaged-*")), "a full disk is not damage"

        filler.unlink()  # space again: what was cached is still there, and new replies go in
        assert _questions(env) == ["What is the capital of France?"]
        again = _va("chat", "-m", "Who wrote Hamlet?", env=env)
        assert again.returncode == 0, again.stderr
        assert _questions(env) == ["What is the capital of France?", "Who wrote Hamlet?"]


async def test_writes_refused_by_a_full_disk_are_skipped_and_lookups_go_on(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with small_filesystem(tmp_path / "small") as disk:
        buffer = ResponseBuffer(store=open_disk_store(disk / "cache"))
        try:
            await buffer.store(turn("What is the capital of France?"), "Paris.")
            filler = fill(disk)
            with caplog.at_level(logging.INFO, logger="va.buffer"):
                for index in range(5):
                    await buffer.store(turn(f"Question number {index}?"), "x" * 20000)
                hit = await buffer.lookup(turn("What is the capital of France?"))
                assert hit is not None and hit.reply == "Paris.", "lookups go on"
                filler.unlink()
                await buffer.store(turn("Who wrote Hamlet?"), "Shakespeare.")
            messages = [record.getMessage() for record in caplog.records]
            skipped = [m for m in messages if "not cached until it can write again" in m]
            assert len(skipped) == 1, messages
            assert "no space left" in skipped[0]
            assert any("storing replies again" in m for m in messages)
            hit = await buffer.lookup(turn("Who wrote Hamlet?"))
            assert hit is not None and hit.reply == "Shakespeare."
        finally:
            await buffer.aclose()
        assert not list(disk.glob("cache.damaged-*"))


def test_a_log_file_that_cannot_be_written_never_raises(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # The kernel's own ENOSPC: every write to /dev/full fails with it.
    link = tmp_path / "logs" / "va.log"
    link.parent.mkdir()
    link.symlink_to("/dev/full")
    console = io.StringIO()
    setup = log.configure("INFO", file=link, stream=console)
    try:
        logger = logging.getLogger("va.test")
        for index in range(3):
            logger.warning("record %d", index)
    finally:
        setup.close()  # must not raise either
    err = capsys.readouterr().err
    assert err.count("cannot write the log file") == 1, err
    assert "No space left on device" in err
    assert "Traceback" not in err and "Logging error" not in err
    assert console.getvalue().count("record") == 3, "the console still gets every record"

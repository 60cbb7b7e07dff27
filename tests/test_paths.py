"""paths.write_atomically: a file is replaced whole or not at all."""

from __future__ import annotations

import stat
from pathlib import Path

import pytest

from voice_agent_cli.paths import write_atomically


def test_the_new_content_replaces_the_old_and_leaves_no_sibling(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    target.write_text("old")
    write_atomically(target, b"new")
    assert target.read_bytes() == b"new"
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]
    assert stat.S_IMODE(target.stat().st_mode) == 0o600  # the sibling's mode: private


def test_a_failed_rename_keeps_what_was_there_and_removes_the_sibling(tmp_path: Path) -> None:
    target = tmp_path / "record.json"
    (target / "inside").mkdir(parents=True)  # a directory in the way: the rename fails
    with pytest.raises(OSError):
        write_atomically(target, b"new")
    assert target.is_dir() and (target / "inside").is_dir()
    assert [p.name for p in tmp_path.iterdir()] == ["record.json"]


def test_a_missing_directory_is_an_oserror(tmp_path: Path) -> None:
    with pytest.raises(OSError):
        write_atomically(tmp_path / "no-such-dir" / "record.json", b"data")

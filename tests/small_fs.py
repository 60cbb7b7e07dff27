"""A real, tiny file system for full-disk tests: a tmpfs mounted for the test.

Mounting needs root (CI and the development machines run as root); elsewhere
the tests that need it are skipped with the reason, and fail in CI
(tests/environment.py). ``/dev/full`` gives the same ENOSPC from the kernel
without a mount, for single files.
"""

from __future__ import annotations

import errno
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

from tests.environment import missing


@contextmanager
def small_filesystem(where: Path, size_kb: int = 1024) -> Iterator[Path]:
    """A tmpfs of ``size_kb`` KiB mounted at ``where`` for the ``with`` block."""
    where.mkdir(parents=True, exist_ok=True)
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={size_kb}k", "tmpfs", str(where)],
        capture_output=True,
        text=True,
        check=False,
    )
    if mounted.returncode != 0:
        missing(f"cannot mount a small tmpfs here (needs root): {mounted.stderr.strip()}")
    try:
        yield where
    finally:
        subprocess.run(["umount", "-l", str(where)], capture_output=True, check=False)


def fill(filesystem: Path) -> Path:
    """Write a file until the file system is full; returns it (delete it to free the space)."""
    filler = filesystem / "filler"
    chunk = b"\0" * 4096
    with suppress(OSError), filler.open("wb", buffering=0) as handle:
        while True:
            handle.write(chunk)
    with suppress(OSError), filler.open("ab", buffering=0) as handle:
        while True:  # the last few bytes
            handle.write(b"\0")
    probe = filesystem / "probe"
    try:
        probe.write_bytes(b"\0" * 4096)
    except OSError as exc:
        assert exc.errno == errno.ENOSPC
    else:  # pragma: no cover - the file system did not fill up
        probe.unlink()
        raise AssertionError(f"{filesystem} is not full")
    return filler

"""Where va keeps its state: one user directory, ``VA_HOME``, and one model store.

Everything va stores for a user (the reply cache, logs, notes, sessions)
lives under ``VA_HOME``. Assembled model files live apart, in one store per
user and machine (:func:`models_dir`), so that several homes (tests, evals,
profiles) share one copy of a gigabyte-sized model. Nothing is ever
downloaded: model files are only assembled from the chunks that the installed
PyPI packages carry.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TextIO, cast

from platformdirs import user_cache_path, user_data_path


def va_home() -> Path:
    """The user directory: ``$VA_HOME`` or the platform's user data dir."""
    configured = os.environ.get("VA_HOME")
    home = Path(configured).expanduser() if configured else user_data_path("va", appauthor=False)
    return home


def models_dir() -> Path:
    """The shared model store: ``$VA_MODELS_DIR``, or the platform's user cache dir.

    Not under ``VA_HOME``: every home of the user (a test's, an eval run's, a
    second profile's) reuses the one assembled copy, e.g. ``~/.cache/va/models``.
    """
    configured = os.environ.get("VA_MODELS_DIR")
    if configured:
        return Path(configured).expanduser()
    return user_cache_path("va", appauthor=False) / "models"


#: Directories and files va creates under VA_HOME are its user's alone: they hold
#: what people said (the reply cache, the input history, notes, logs).
PRIVATE_DIR_MODE = 0o700
PRIVATE_FILE_MODE = 0o600


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and missing parents) if needed, private (0700), and return it.

    Directories that already exist are left as they are.
    """
    missing: list[Path] = []
    current = path
    while not current.exists() and current != current.parent:
        missing.append(current)
        current = current.parent
    for directory in reversed(missing):
        try:
            directory.mkdir(mode=PRIVATE_DIR_MODE)
        except FileExistsError:
            continue  # another process made it meanwhile
        # mkdir's mode goes through the umask, which may only take bits away; be exact.
        directory.chmod(PRIVATE_DIR_MODE)
    return path


def private_file(path: Path) -> Path:
    """Make sure ``path`` exists and only its owner may read it (0600); return it.

    Call it before a library (SQLite, readline) creates the file with wider
    permissions; SQLite gives its journal files the mode of the database.
    """
    ensure_dir(path.parent)
    descriptor = os.open(path, os.O_CREAT | os.O_APPEND | os.O_WRONLY, PRIVATE_FILE_MODE)
    try:
        if os.fstat(descriptor).st_mode & 0o077:
            os.fchmod(descriptor, PRIVATE_FILE_MODE)
    finally:
        os.close(descriptor)
    return path


def write_atomically(path: Path, data: bytes) -> None:
    """Write ``data`` to ``path`` whole or not at all: a private sibling, then a rename.

    A reader, or a second process writing the same file, sees the old file or
    the new one, never half of one. Raises :class:`OSError` (the sibling is gone then).
    """
    descriptor, sibling = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(descriptor, "wb") as handle:
            handle.write(data)
        os.replace(sibling, path)
    except BaseException:
        Path(sibling).unlink(missing_ok=True)
        raise


def open_private(path: Path, mode: str = "a", encoding: str = "utf-8") -> TextIO:
    """Open a text file for writing (``"a"`` or ``"w"``), created 0600 if new."""
    flags = os.O_CREAT | os.O_WRONLY | (os.O_APPEND if mode == "a" else os.O_TRUNC)
    ensure_dir(path.parent)
    descriptor = os.open(path, flags, PRIVATE_FILE_MODE)
    return cast(TextIO, os.fdopen(descriptor, mode, encoding=encoding, errors="replace"))


@contextmanager
def exclusive_lock(
    path: Path, *, error: Callable[[OSError], Exception] | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` across processes (flock) for a ``with`` block.

    A lock file that cannot be created raises :class:`OSError`, or what ``error``
    makes of it. Where flock does not exist (Windows) the block runs unlocked.
    """
    try:
        ensure_dir(path.parent)
        descriptor = os.open(path, os.O_CREAT | os.O_RDWR, PRIVATE_FILE_MODE)
        handle = os.fdopen(descriptor, "a+b")
    except OSError as exc:
        if error is None:
            raise
        raise error(exc) from None
    with handle:
        try:
            import fcntl
        except ImportError:  # pragma: no cover - Windows
            yield
            return
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX)
        yield

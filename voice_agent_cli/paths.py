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
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

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


def ensure_dir(path: Path) -> Path:
    """Create ``path`` (and parents) if needed and return it."""
    path.mkdir(parents=True, exist_ok=True)
    return path


@contextmanager
def exclusive_lock(
    path: Path, *, error: Callable[[OSError], Exception] | None = None
) -> Iterator[None]:
    """Hold an exclusive lock on ``path`` across processes (flock) for a ``with`` block.

    A lock file that cannot be created raises :class:`OSError`, or what ``error``
    makes of it. Where flock does not exist (Windows) the block runs unlocked.
    """
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle = open(path, "a+b")  # noqa: SIM115 - closed by the with below
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

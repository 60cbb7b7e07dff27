"""What a test needs from the machine: skipped on a laptop without it, a failure in CI.

Mounting a tmpfs needs root and the virtual sound devices need PulseAudio; a
developer's machine may have neither, and the tests that need them are skipped
with the reason. CI has both (`.ci/run` sets ``VA_TESTS_STRICT=1``; ``CI`` counts
too): there, a missing one is a failure, so those tests never vanish silently.
"""

from __future__ import annotations

import os
from typing import NoReturn

import pytest


def strict() -> bool:
    """True where every test must run (CI)."""
    return bool(os.environ.get("VA_TESTS_STRICT") or os.environ.get("CI"))


def missing(reason: str) -> NoReturn:
    """Skip the test for ``reason``, or fail it where every test must run."""
    if strict():
        pytest.fail(f"this machine must be able to run it: {reason}")
    pytest.skip(reason)

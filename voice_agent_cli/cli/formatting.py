"""Small text helpers the commands share when they print tables and summaries."""

from __future__ import annotations


def duration(seconds: float) -> str:
    """A rough, readable length of time: "12 s", "5 min", "3 h", "2 d"."""
    seconds = max(0.0, seconds)
    for unit, size in (("d", 86400), ("h", 3600), ("min", 60)):
        if seconds >= size:
            return f"{seconds / size:.0f} {unit}"
    return f"{seconds:.0f} s"


def shorten(text: str, width: int) -> str:
    """``text`` on one line, cut to ``width`` characters with an ellipsis."""
    text = " ".join(text.split())
    return text if len(text) <= width else text[: width - 1] + "\u2026"


def plural(count: int, one: str, many: str) -> str:
    """``one`` or ``many``, whichever goes with ``count``."""
    return one if count == 1 else many

"""Audio dropouts (xruns): counted in the metrics, and a warning in va's words when they pile up.

An xrun is the sound stack losing audio because va did not keep up: the
microphone's buffer overflowed (input lost) or the speaker's ran dry (a gap in
the agent's voice). PortAudio tells each callback through its status flags;
:class:`XrunCounter` takes them from the callback threads, and the event loop
(:meth:`XrunCounter.report`) turns them into the ``audio_xruns`` counter
(label ``kind``: ``input_overflow``, ``output_underflow``...) and, when more
than ``threshold`` happen within a minute, one warning for the whole session.

Only audible ones count: a speaker that runs dry while it plays silence (va
loading its models, or idle) loses nothing anyone hears.
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from voice_agent_cli.observe import metrics

#: The PortAudio callback flags (sounddevice's ``CallbackFlags`` attributes) that are xruns.
XRUN_FLAGS = ("input_overflow", "input_underflow", "output_underflow", "output_overflow")

#: Dropouts within a minute above which va warns (once per session).
DEFAULT_THRESHOLD = 5

Notify = Callable[[str, str], None]


class XrunCounter:
    """Xruns from PortAudio's threads, reported from the event loop."""

    def __init__(
        self,
        *,
        threshold: int = DEFAULT_THRESHOLD,
        window_s: float = 60.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.threshold = threshold
        self.window_s = window_s
        self._clock = clock
        self._lock = threading.Lock()
        self._new: dict[str, int] = {}
        self._recent: deque[float] = deque()
        self.totals: dict[str, int] = {}
        self.warned = False

    def count_flags(self, status: Any) -> None:
        """Count the xrun flags set in a callback's ``status`` (from any thread)."""
        if not status:
            return
        for flag in XRUN_FLAGS:
            if getattr(status, flag, False):
                self.add(flag)

    def add(self, kind: str, count: int = 1) -> None:
        """Count ``count`` dropouts of ``kind`` (from any thread)."""
        now = self._clock()
        with self._lock:
            self._new[kind] = self._new.get(kind, 0) + count
            self.totals[kind] = self.totals.get(kind, 0) + count
            self._recent.extend([now] * count)

    @property
    def total(self) -> int:
        """Every dropout counted so far."""
        return sum(self.totals.values())

    def report(self, notify: Notify | None = None) -> None:
        """Move new counts into the metrics; warn once when the last minute had too many.

        Call it from the event loop: the metrics registry is the loop's.
        """
        now = self._clock()
        with self._lock:
            new, self._new = self._new, {}
            while self._recent and now - self._recent[0] > self.window_s:
                self._recent.popleft()
            recent = len(self._recent)
        for kind, count in new.items():
            metrics.increment("audio_xruns", count, kind=kind)
        if recent > self.threshold and not self.warned:
            self.warned = True
            if notify is not None:
                notify(warning_text(recent, self.totals, self.window_s), "warning")


def warning_text(recent: int, totals: dict[str, int], window_s: float) -> str:
    """The one warning: what was lost, and what usually helps."""
    lost = []
    if totals.get("output_underflow") or totals.get("output_overflow"):
        lost.append("gaps in va's voice")
    if totals.get("input_overflow") or totals.get("input_underflow"):
        lost.append("lost microphone audio")
    what = " and ".join(lost) or "dropouts"
    minute = "minute" if window_s == 60 else f"{window_s:g} s"
    return (
        f"the sound system dropped audio {recent} times in the last {minute} ({what}): "
        "this machine may be too busy for real-time audio; closing other programs helps"
    )

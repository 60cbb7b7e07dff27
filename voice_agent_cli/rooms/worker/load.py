"""How busy this machine is: CPU use, smoothed, for declining jobs when it is too busy.

``psutil.cpu_percent`` between two calls gives the share of all cores used
since the last call; :class:`CpuLoad` samples it every half second from a
named task and averages the last five samples (about 2.5 s, the window
LiveKit Agents uses), so one busy moment does not turn every offer away.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque

#: Seconds between samples, and how many samples are averaged.
SAMPLE_INTERVAL_S = 0.5
WINDOW = 5


class CpuLoad:
    """The machine's CPU use, 0 to 1, averaged over the last few seconds."""

    def __init__(self, *, interval_s: float = SAMPLE_INTERVAL_S, window: int = WINDOW) -> None:
        self._interval_s = interval_s
        self._samples: deque[float] = deque(maxlen=window)
        self._task: asyncio.Task[None] | None = None

    def __call__(self) -> float:
        """The current average (0 before the first sample)."""
        return sum(self._samples) / len(self._samples) if self._samples else 0.0

    def start(self) -> None:
        """Start sampling (call inside the event loop)."""
        if self._task is None:
            import psutil

            psutil.cpu_percent(interval=None)  # the first call only sets the baseline
            self._task = asyncio.create_task(self._sample(), name="va-worker-cpu-load")

    async def aclose(self) -> None:
        """Stop sampling."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _sample(self) -> None:
        import psutil

        while True:
            await asyncio.sleep(self._interval_s)
            self._samples.append(psutil.cpu_percent(interval=None) / 100.0)

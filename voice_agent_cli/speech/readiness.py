"""No cold first turn: the voice loop listens while the models still load.

``va talk`` and ``va join`` start loading the LLM and the speech models in a
task (:func:`~voice_agent_cli.speech.build.load_models`, which returns the
seconds it took) and open the microphone at once. The user speaks meanwhile;
a turn that ends before the models are ready waits for them (``load_wait``),
and the first turn reports the load on its own (``load_s``), so the turn's
own latency is never mixed up with the start-up.
"""

from __future__ import annotations

import asyncio
import time


class ModelsReady:
    """The models' loading task, as the voice loop waits for it (``None``: loaded already)."""

    def __init__(self, loading: asyncio.Task[float] | None) -> None:
        self.loading = loading

    @property
    def ready(self) -> bool:
        """True once the models are loaded (or failed to load: the turn will say why)."""
        return self.loading is None or self.loading.done()

    async def wait(self) -> float:
        """Wait for the models if they are still loading; returns the ms waited."""
        loading = self.loading
        if loading is None:
            return 0.0
        if loading.done():
            loading.result()  # a failed load fails the turn (and says why)
            return 0.0
        began = time.perf_counter()
        await asyncio.shield(loading)  # a barge-in cancels the turn, not the load
        return round((time.perf_counter() - began) * 1000, 1)

    def load_details(self) -> dict[str, float]:
        """``{"load_s": s}``: how long the models took to load (once they have)."""
        loading = self.loading
        if loading is None or not loading.done() or loading.cancelled() or loading.exception():
            return {}
        return {"load_s": round(loading.result(), 3)}

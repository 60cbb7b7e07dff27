"""``va bench`` scenarios: the contract every scenario module follows.

A scenario is an async function ``run(options: BenchOptions) -> ScenarioRun``
in a module ``voice_agent_cli.bench.<name>``. It measures real work (no
sleeps standing in for it), excludes its warm-up runs, and returns raw samples
per stage in milliseconds; the bench command turns them into percentiles,
budgets and the JSON report.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class BenchOptions:
    """What the user asked of a benchmark run."""

    iterations: int = 20
    warmup: int = 3
    profile: str | None = None
    #: ``voice``: also run the turns through sound devices (a private PulseAudio).
    device: bool = False


@dataclass
class ScenarioRun:
    """The raw result of one scenario: samples per stage (ms) and other figures."""

    stages: dict[str, list[float]] = field(default_factory=dict)
    figures: dict[str, Any] = field(default_factory=dict)

    def sample(self, stage: str, milliseconds: float) -> None:
        """Add one measurement of ``stage``."""
        self.stages.setdefault(stage, []).append(milliseconds)

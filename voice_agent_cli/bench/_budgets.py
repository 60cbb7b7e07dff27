"""Latency budgets: ``[scenario.]stage[:pNN]=ms``, and whether a run kept them.

``llm_ttft=800`` holds every scenario's ``llm_ttft`` p95 (the default
percentile) to 800 ms; ``chat.total:p99=3000`` (or ``chat.total@p99=3000``) holds only the
``chat`` scenario's ``total`` at p99. Stage names may contain colons
(``tools.discovery:va=200``). A budget whose stage no scenario measured is
reported as not measured, never as kept or missed.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from voice_agent_cli.errors import UsageError
from voice_agent_cli.observe.metrics.histogram import exact_percentile

_BUDGET = re.compile(
    r"^\s*(?:(?P<scenario>[A-Za-z_][\w-]*)\.)?(?P<stage>[A-Za-z_][\w:\-]*?)"
    r"(?:[:@]p(?P<percentile>\d+(?:\.\d+)?))?\s*=\s*(?P<ms>\d+(?:\.\d+)?)\s*(?:ms)?\s*$"
)


@dataclass(frozen=True)
class Budget:
    """A percentile of a stage must stay at or under ``limit_ms``."""

    stage: str
    limit_ms: float
    percentile: float = 95.0
    scenario: str | None = None

    @property
    def label(self) -> str:
        """``scenario.stage:pNN`` as the user would write it."""
        where = f"{self.scenario}.{self.stage}" if self.scenario else self.stage
        return f"{where}:p{self.percentile:g}"


@dataclass(frozen=True)
class BudgetResult:
    """One budget checked against one scenario (``scenario`` None: nothing measured it)."""

    budget: Budget
    scenario: str | None
    measured_ms: float | None

    @property
    def measured(self) -> bool:
        return self.measured_ms is not None

    @property
    def ok(self) -> bool:
        """Kept, or not measured."""
        return self.measured_ms is None or self.measured_ms <= self.budget.limit_ms

    def as_json(self) -> dict[str, object]:
        return {
            "budget": self.budget.label,
            "scenario": self.scenario,
            "stage": self.budget.stage,
            "percentile": self.budget.percentile,
            "limit_ms": self.budget.limit_ms,
            "measured_ms": None if self.measured_ms is None else round(self.measured_ms, 3),
            "status": "not measured" if not self.measured else ("ok" if self.ok else "missed"),
        }

    def describe(self) -> str:
        """One line for the user."""
        if self.measured_ms is None:
            return f"{self.budget.label} <= {self.budget.limit_ms:g} ms: not measured"
        where = f"{self.scenario}.{self.budget.stage}:p{self.budget.percentile:g}"
        verdict = "ok" if self.ok else "MISSED"
        return f"{where} {self.measured_ms:.1f} ms <= {self.budget.limit_ms:g} ms: {verdict}"


def parse_budget(text: str, *, default_percentile: float = 95.0) -> Budget:
    """Read ``[scenario.]stage[:pNN]=ms``; a :class:`UsageError` says what is wrong."""
    match = _BUDGET.match(text)
    if match is None:
        raise UsageError(
            f"bad budget {text!r}: write [scenario.]stage[:pNN]=ms, e.g. llm_ttft=800 or "
            "chat.total:p99=3000"
        )
    percentile = float(match["percentile"]) if match["percentile"] else default_percentile
    if not 0 < percentile <= 100:
        raise UsageError(f"bad budget {text!r}: the percentile must be between 0 and 100")
    return Budget(
        stage=match["stage"],
        limit_ms=float(match["ms"]),
        percentile=percentile,
        scenario=match["scenario"],
    )


def check_budgets(
    budgets: Iterable[Budget], stages: Mapping[str, Mapping[str, list[float]]]
) -> list[BudgetResult]:
    """Check each budget against the raw samples ``{scenario: {stage: [ms, ...]}}``."""
    results: list[BudgetResult] = []
    for budget in budgets:
        found = False
        for scenario, samples_by_stage in stages.items():
            if budget.scenario not in (None, scenario):
                continue
            samples = samples_by_stage.get(budget.stage)
            if not samples:
                continue
            found = True
            measured = exact_percentile(samples, budget.percentile)
            results.append(BudgetResult(budget, scenario, measured))
        if not found:
            results.append(BudgetResult(budget, None, None))
    return results

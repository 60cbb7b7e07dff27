"""The bench report: the stable JSON schema scripts rely on, and comparison with a saved run.

Schema (version 1; keys are only ever added)::

    {"version": 1,
     "scenarios": {NAME: {"stages": {STAGE: {"n": int, "p50_ms": float, "p95_ms": float,
                                             "p99_ms": float, "mean_ms": float, ...}},
                          ...the scenario's figures...,
                          "error": "...", "exit_code": int  (only when it failed)}},
     "budgets": [{"budget", "scenario", "stage", "percentile", "limit_ms",
                  "measured_ms", "status": "ok" | "missed" | "not measured"}],
     "comparison": {...}  (only with --compare),
     "options": {"iterations", "warmup", "percentiles"}}

Percentiles are exact (interpolated between closest ranks) over the measured
samples; warm-up runs are never among them.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from voice_agent_cli.bench._budgets import BudgetResult
from voice_agent_cli.bench._runner import ScenarioOutcome
from voice_agent_cli.errors import UsageError
from voice_agent_cli.observe.metrics.histogram import exact_percentile

SCHEMA_VERSION = 1
#: Always in the report, whatever else is asked for.
BASE_PERCENTILES = (50.0, 95.0, 99.0)
#: Figures compared by --compare.
COMPARED = ("p50_ms", "p95_ms", "p99_ms", "mean_ms")


def percentile_key(p: float) -> str:
    """``p95_ms`` for 95, ``p99.9_ms`` for 99.9."""
    return f"p{p:g}_ms"


def report_percentiles(extra: Iterable[float] = ()) -> tuple[float, ...]:
    """p50/p95/p99 plus the extra ones asked for, sorted, without duplicates."""
    return tuple(sorted(set(BASE_PERCENTILES) | {float(p) for p in extra}))


def summarize_samples(samples: Sequence[float], percentiles: Sequence[float]) -> dict[str, Any]:
    """``{"n", "pNN_ms"..., "mean_ms"}`` of raw samples, rounded to microseconds."""
    summary: dict[str, Any] = {"n": len(samples)}
    for p in percentiles:
        summary[percentile_key(p)] = round(exact_percentile(samples, p), 3)
    summary["mean_ms"] = round(math.fsum(samples) / len(samples), 3)
    return summary


def build_report(
    outcomes: Sequence[ScenarioOutcome],
    *,
    percentiles: Sequence[float],
    iterations: int,
    warmup: int,
    budgets: Sequence[BudgetResult] = (),
) -> dict[str, Any]:
    """The whole report as plain data (see the module docstring for its schema)."""
    scenarios: dict[str, Any] = {}
    for outcome in outcomes:
        if outcome.run is None:
            scenarios[outcome.name] = {
                "stages": {},
                "error": outcome.error,
                "exit_code": outcome.exit_code,
            }
            continue
        stages = {
            stage: summarize_samples(samples, percentiles)
            for stage, samples in outcome.run.stages.items()
            if samples
        }
        scenarios[outcome.name] = {
            "stages": stages,
            **_plain(outcome.run.figures),
            "duration_s": round(outcome.seconds, 3),
        }
    return {
        "version": SCHEMA_VERSION,
        "scenarios": scenarios,
        "budgets": [result.as_json() for result in budgets],
        "options": {"iterations": iterations, "warmup": warmup, "percentiles": list(percentiles)},
    }


def _plain(figures: dict[str, Any]) -> dict[str, Any]:
    """Figures made JSON-safe (numbers rounded, anything else as text)."""
    return json.loads(json.dumps(figures, default=str))


def load_baseline(path: Path) -> dict[str, Any]:
    """A report saved by ``va bench --json``; a :class:`UsageError` if it is not one."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc.strerror}") from None
    except json.JSONDecodeError as exc:
        raise UsageError(f"{path} is not JSON ({exc.msg}, line {exc.lineno})") from None
    if not isinstance(data, dict) or not isinstance(data.get("scenarios"), dict):
        raise UsageError(f"{path} is not a `va bench --json` report")
    if data.get("version") != SCHEMA_VERSION:
        raise UsageError(
            f"{path} is a version {data.get('version')!r} report; this va reads version "
            f"{SCHEMA_VERSION}"
        )
    return data


def compare(report: dict[str, Any], baseline: dict[str, Any], source: str) -> dict[str, Any]:
    """The change of each stage figure between ``baseline`` and ``report``.

    ``{"against": source, "scenarios": {NAME: {STAGE: {"p95_ms": {"before", "after",
    "change_ms", "change_pct"}, ...}}}}``, for the stages both runs measured.
    """
    scenarios: dict[str, Any] = {}
    for name, scenario in report["scenarios"].items():
        before_stages = (baseline["scenarios"].get(name) or {}).get("stages") or {}
        for stage, after in scenario["stages"].items():
            before = before_stages.get(stage)
            if not isinstance(before, dict):
                continue
            changes: dict[str, Any] = {}
            for key in COMPARED:
                old, new = before.get(key), after.get(key)
                if not isinstance(old, int | float) or not isinstance(new, int | float):
                    continue
                changes[key] = {
                    "before": old,
                    "after": new,
                    "change_ms": round(new - old, 3),
                    "change_pct": round((new - old) / old * 100, 1) if old else None,
                }
            if changes:
                scenarios.setdefault(name, {})[stage] = changes
    return {"against": source, "scenarios": scenarios}

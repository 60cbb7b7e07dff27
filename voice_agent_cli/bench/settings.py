"""The ``[bench]`` profile section: which scenarios ``va bench`` runs, and their budgets.

::

    [bench]
    scenarios = ["buffer", "chat", "concurrency"]   # default: every scenario found
    sessions = 10                 # concurrency: sessions at once
    concurrency_llm = "fake"      # or "profile": the profile's own LLM server
    iterations = 20
    warmup = 3
    percentiles = [50, 95, 99]
    budget_percentile = 95        # what a budget without ":pNN" checks

    [bench.budgets]               # [scenario.]stage[:pNN] = milliseconds
    llm_ttft = 1500               # every scenario's llm_ttft p95
    "chat.total:p99" = 4000       # only chat's total, at p99

A missed budget makes ``va bench`` exit with code 4. This module is imported
by :mod:`voice_agent_cli.config`: no config import (circular), nothing heavy.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator

from voice_agent_cli.bench._budgets import parse_budget
from voice_agent_cli.section import Section


class BenchSettings(Section):
    """Defaults and budgets of ``va bench``."""

    scenarios: list[str] = Field(
        default_factory=list, description="scenarios run by default; empty: every one found"
    )
    iterations: int = Field(20, ge=1, le=1_000_000, description="measured runs per scenario")
    warmup: int = Field(3, ge=0, le=10_000, description="runs before measuring, not reported")
    percentiles: list[float] = Field(
        default_factory=lambda: [50.0, 95.0, 99.0], description="reported besides p50/p95/p99"
    )
    budget_percentile: float = Field(95.0, gt=0, le=100)
    budgets: dict[str, float] = Field(
        default_factory=dict, description="[scenario.]stage[:pNN] = ms; exit 4 when missed"
    )
    sessions: int = Field(10, ge=1, le=10_000, description="concurrency: simultaneous sessions")
    fake_llm_latency_ms: float = Field(
        50.0, ge=0, le=60_000, description="concurrency: the fake LLM's fixed first-token latency"
    )
    concurrency_llm: Literal["fake", "profile"] = Field(
        "fake",
        description="concurrency: a fake LLM (va's own cost), or the profile's LLM "
        "(e.g. many sessions on one llama.cpp or vLLM server)",
    )

    @field_validator("percentiles")
    @classmethod
    def _percentiles(cls, values: list[float]) -> list[float]:
        for value in values:
            if not 0 < value <= 100:
                raise ValueError(f"a percentile is between 0 and 100, not {value:g}")
        return values

    @field_validator("budgets")
    @classmethod
    def _budgets(cls, budgets: dict[str, float]) -> dict[str, float]:
        for key, value in budgets.items():
            parse_budget(f"{key}={value}", default_percentile=95.0)
        return budgets

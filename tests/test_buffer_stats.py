"""Buffer statistics: counters, hit rate, latency percentiles, and the bench scenario."""

from __future__ import annotations

import pytest

from voice_agent_cli.bench import BenchOptions
from voice_agent_cli.buffer.stats import BUCKET_BOUNDS_US, BufferStats, StatsSnapshot, percentile


def test_hit_rate_counts_both_layers() -> None:
    stats = BufferStats()
    stats.lookup("prebuffered", 0.01)
    stats.lookup("cache", 0.2)
    stats.lookup("cache", 0.3)
    stats.lookup("miss", 0.5)
    snapshot = stats.snapshot()
    assert snapshot.hits == 3
    assert snapshot.hit_rate == 0.75
    data = snapshot.as_json()
    assert (data["lookups"], data["prebuffered_hits"], data["cache_hits"], data["misses"]) == (
        4, 1, 2, 1,
    )  # fmt: skip
    assert data["latency_ms"]["cache"]["count"] == 2


def test_no_lookups_means_no_hit_rate() -> None:
    assert StatsSnapshot.from_counters({}).hit_rate is None
    assert StatsSnapshot.from_counters({}).as_json()["latency_ms"]["miss"]["p99"] is None


def test_percentiles_are_bucket_upper_bounds_never_optimistic() -> None:
    stats = BufferStats()
    for _ in range(98):
        stats.lookup("cache", 0.1)  # 100 us
    stats.lookup("cache", 2.0)
    stats.lookup("cache", 40.0)
    figures = stats.snapshot().layers["cache"]
    assert figures.p50_ms is not None and figures.p99_ms is not None
    assert 0.1 <= figures.p50_ms < 0.1 * 1.27
    assert 2.0 <= figures.p99_ms < 2.0 * 1.27
    assert figures.count == 100


def test_percentile_of_a_histogram() -> None:
    assert percentile({}, 50) is None
    assert percentile({10: 1}, 99) == round(BUCKET_BOUNDS_US[10] / 1000, 4)
    assert percentile({0: 50, 30: 50}, 50) == round(BUCKET_BOUNDS_US[0] / 1000, 4)
    assert percentile({0: 50, 30: 50}, 51) == round(BUCKET_BOUNDS_US[30] / 1000, 4)


def test_pending_counts_are_handed_over_once_and_can_be_restored() -> None:
    stats = BufferStats()
    stats.count("stores")
    pending = stats.take_pending()
    assert pending == {"stores": 1}
    assert not stats.has_pending
    stats.restore_pending(pending)
    stats.count("stores")
    assert stats.take_pending() == {"stores": 2}
    assert stats.totals["stores"] == 2


async def test_the_bench_scenario_reports_its_stages_and_figures() -> None:
    from voice_agent_cli.bench.buffer import SCRIPTED_SESSIONS, run

    result = await run(BenchOptions(iterations=5, warmup=1))
    assert {stage: len(samples) for stage, samples in result.stages.items()} == {
        "prebuffered": 5,
        "cache_hit": 5,
        "miss_lookup": 12,
    }
    assert all(sample > 0 for samples in result.stages.values() for sample in samples)
    scripted = result.figures["scripted"]
    assert scripted["turns"] == sum(len(session) for session in SCRIPTED_SESSIONS)
    assert scripted["llm_turns"] == scripted["llm_calls"]
    assert 0 < scripted["hit_rate"] < 1
    assert result.figures["backend"] == "disk"


@pytest.mark.parametrize("profile", ["gemini"])
async def test_the_bench_runs_on_a_profile_without_pre_buffered_replies(profile: str) -> None:
    from voice_agent_cli.bench.buffer import run

    result = await run(BenchOptions(iterations=2, warmup=0, profile=profile))
    assert len(result.stages["prebuffered"]) == 2

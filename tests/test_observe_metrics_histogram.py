"""The relative-error histogram against known distributions, and exact sample percentiles."""

from __future__ import annotations

import math
import random

import pytest

from voice_agent_cli.observe.metrics import LogHistogram, exact_percentile


def exact_rank(values: list[float], q: float) -> float:
    """The element of rank floor(q * (n - 1)): what the histogram's guarantee is about."""
    ordered = sorted(values)
    return ordered[math.floor(q * (len(ordered) - 1))]


def distributions() -> dict[str, list[float]]:
    rng = random.Random(7)
    return {
        "uniform 1..10000": [float(v) for v in range(1, 10_001)],
        "exponential (mean 120 ms)": [rng.expovariate(1 / 120) for _ in range(20_000)],
        "lognormal, heavy tail": [rng.lognormvariate(3, 1.5) for _ in range(20_000)],
        "bimodal: buffer hits and LLM turns": [rng.gauss(0.4, 0.05) for _ in range(5_000)]
        + [rng.gauss(900, 150) for _ in range(5_000)],
    }


@pytest.mark.parametrize("name", list(distributions()))
@pytest.mark.parametrize("q", [0.5, 0.9, 0.95, 0.99, 0.999])
def test_quantiles_are_within_one_percent(name: str, q: float) -> None:
    values = [abs(v) for v in distributions()[name]]
    histogram = LogHistogram(relative_accuracy=0.01)
    histogram.extend(values)
    estimate = histogram.quantile(q)
    exact = exact_rank(values, q)
    assert estimate is not None
    assert abs(estimate - exact) <= 0.01 * exact + 1e-9


def test_count_mean_min_max_are_exact() -> None:
    histogram = LogHistogram()
    histogram.extend([1.0, 2.0, 3.0, 10.0])
    assert histogram.count == 4
    assert histogram.mean == 4.0
    assert histogram.quantile(0) == 1.0
    assert histogram.quantile(1) == 10.0
    assert histogram.percentile(50) == pytest.approx(2.0, rel=0.01)


def test_a_constant_is_reported_as_itself() -> None:
    histogram = LogHistogram()
    histogram.extend([42.0] * 100)
    for q in (0.01, 0.5, 0.99):
        assert histogram.quantile(q) == 42.0  # clamped to the exact min/max


def test_zeros_and_an_empty_histogram() -> None:
    histogram = LogHistogram()
    assert histogram.quantile(0.5) is None and histogram.mean is None
    histogram.extend([0.0, 0.0, 0.0, 5.0])
    assert histogram.quantile(0.5) == 0.0
    with pytest.raises(ValueError):
        histogram.add(-1.0)


def test_merging_equals_counting_everything_in_one() -> None:
    rng = random.Random(3)
    left, right, both = LogHistogram(), LogHistogram(), LogHistogram()
    for index in range(2_000):
        value = rng.expovariate(1 / 50)
        (left if index % 2 else right).add(value)
        both.add(value)
    left.merge(right)
    assert left.count == both.count
    assert left.buckets == both.buckets
    assert left.quantile(0.99) == both.quantile(0.99)


def test_memory_stays_small_over_a_huge_range() -> None:
    histogram = LogHistogram()
    histogram.extend(10 ** (k / 100) for k in range(-300, 700))  # 1 us .. 10^7 ms
    # Ten decades at 1 % accuracy: about 1,150 buckets, whatever the sample count.
    assert len(histogram.buckets) < 1_200


def test_exact_percentile_interpolates_like_numpy() -> None:
    samples = [15.0, 20.0, 35.0, 40.0, 50.0]
    assert exact_percentile(samples, 0) == 15.0
    assert exact_percentile(samples, 50) == 35.0
    assert exact_percentile(samples, 100) == 50.0
    assert exact_percentile(samples, 40) == pytest.approx(29.0)  # numpy.percentile: 29.0
    assert exact_percentile([7.0], 99) == 7.0

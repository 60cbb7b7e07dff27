"""Percentiles: a relative-error log histogram for live metrics, exact ones for samples.

Live metrics run for as long as a session does, so they cannot keep every
sample. :class:`LogHistogram` is the DDSketch idea (Masson et al., VLDB 2019):
a value ``v > 0`` is counted in bucket ``ceil(log_gamma(v))`` with
``gamma = (1 + a) / (1 - a)``, and a quantile is answered with the bucket's
midpoint ``2 * gamma**i / (gamma + 1)``, which is within a relative error ``a``
of the exact value (1 % by default), whatever the distribution's shape or range.
Buckets are kept sparse in a dict: a latency stage that spans 0.1 ms to 60 s
needs a few hundred integers at most, and two histograms merge by adding counts.

Why not a library: ``hdrhistogram`` needs a fixed range and integer values up
front, ``ddsketch`` pulls in protobuf for a hundred lines of arithmetic. This is
those hundred lines, with the guarantee tested against known distributions.

``va bench`` has every raw sample, so it reports exact percentiles instead
(:func:`exact_percentile`, linear interpolation between closest ranks, like
numpy's default).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence

#: Values at or below this are counted as zero (no log of 0).
_MIN_POSITIVE = 1e-9


class LogHistogram:
    """Counts values in logarithmic buckets; quantiles within ``relative_accuracy``."""

    def __init__(self, relative_accuracy: float = 0.01) -> None:
        if not 0 < relative_accuracy < 1:
            raise ValueError("relative_accuracy must be between 0 and 1")
        self.relative_accuracy = relative_accuracy
        self.gamma = (1 + relative_accuracy) / (1 - relative_accuracy)
        self._log_gamma = math.log(self.gamma)
        self.buckets: dict[int, int] = {}
        self.zero_count = 0
        self.count = 0
        self.total = 0.0
        self.min = math.inf
        self.max = -math.inf
        #: The most recent value added (None until one is).
        self.last: float | None = None

    def add(self, value: float, count: int = 1) -> None:
        """Count ``value`` (``count`` times). Negative values are refused."""
        if value < 0 or math.isnan(value):
            raise ValueError(f"a histogram counts values >= 0, not {value!r}")
        if value <= _MIN_POSITIVE:
            self.zero_count += count
        else:
            index = math.ceil(math.log(value) / self._log_gamma)
            self.buckets[index] = self.buckets.get(index, 0) + count
        self.count += count
        self.total += value * count
        self.min = min(self.min, value)
        self.max = max(self.max, value)
        self.last = value

    def extend(self, values: Iterable[float]) -> None:
        """Count every value of ``values``."""
        for value in values:
            self.add(value)

    def merge(self, other: LogHistogram) -> None:
        """Add ``other``'s counts to this histogram (same accuracy required)."""
        if other.gamma != self.gamma:
            raise ValueError("cannot merge histograms of different accuracy")
        for index, count in other.buckets.items():
            self.buckets[index] = self.buckets.get(index, 0) + count
        self.zero_count += other.zero_count
        self.count += other.count
        self.total += other.total
        self.min = min(self.min, other.min)
        self.max = max(self.max, other.max)

    @property
    def mean(self) -> float | None:
        """The exact mean (``None`` when empty)."""
        return self.total / self.count if self.count else None

    def quantile(self, q: float) -> float | None:
        """The ``q``-quantile (0..1), within the relative accuracy; ``None`` when empty."""
        if not 0 <= q <= 1:
            raise ValueError("q must be between 0 and 1")
        if not self.count:
            return None
        if q == 0:
            return self.min
        if q == 1:
            return self.max
        rank = q * (self.count - 1)
        seen = self.zero_count
        if seen > rank:
            return 0.0
        for index in sorted(self.buckets):
            seen += self.buckets[index]
            if seen > rank:
                estimate = 2 * self.gamma**index / (self.gamma + 1)
                # The exact extremes are known: never answer outside them.
                return min(max(estimate, self.min), self.max)
        return self.max

    def percentile(self, p: float) -> float | None:
        """The ``p``-th percentile (0..100)."""
        return self.quantile(p / 100)


def exact_percentile(samples: Sequence[float], p: float) -> float:
    """The ``p``-th percentile of ``samples``, interpolated between closest ranks."""
    if not samples:
        raise ValueError("no samples")
    if not 0 <= p <= 100:
        raise ValueError("p must be between 0 and 100")
    ordered = sorted(samples)
    position = (len(ordered) - 1) * p / 100
    lower = math.floor(position)
    upper = min(lower + 1, len(ordered) - 1)
    fraction = position - lower
    return ordered[lower] + (ordered[upper] - ordered[lower]) * fraction

"""Buffer statistics: hits and misses per layer, evictions, and lookup latency percentiles.

Everything is a counter, so statistics from several ``va`` processes (or
several machines sharing a Redis) add up: a process counts in memory and
flushes its deltas to the backend now and then (:meth:`BufferStats.take_pending`).
Latencies go into a histogram with ten buckets per decade (each about 26 %
wide), from 1 microsecond to a minute; a percentile is reported as the upper
bound of its bucket, so it is never optimistic by more than one bucket.
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

Outcome = Literal["prebuffered", "cache", "miss"]
OUTCOMES: tuple[Outcome, ...] = ("prebuffered", "cache", "miss")

#: Counter names, all persisted as integers.
COUNTERS = (
    "lookups",  # every lookup
    "prebuffered_hits",
    "cache_hits",
    "misses",  # answered by the LLM
    "stores",  # replies written to the cache
    "not_cacheable",  # LLM replies the caching rule kept out
    "evictions",  # entries dropped by the LRU bound
    "expired",  # entries found past their TTL
    "busy",  # lookups that gave up on a locked cache
    "errors",  # backend failures (the agent went on without the cache)
)

_BUCKETS_PER_DECADE = 10
#: Upper bounds of the latency buckets, in microseconds (1 us ... ~63 s).
BUCKET_BOUNDS_US: tuple[float, ...] = tuple(
    10 ** (index / _BUCKETS_PER_DECADE) for index in range(0, 8 * _BUCKETS_PER_DECADE)
)
_LATENCY_PREFIX = "latency_us"


def latency_counter(outcome: Outcome, milliseconds: float) -> str:
    """The counter name of the histogram bucket that holds ``milliseconds``."""
    bucket = bisect.bisect_left(BUCKET_BOUNDS_US, milliseconds * 1000)
    return f"{_LATENCY_PREFIX}:{outcome}:{min(bucket, len(BUCKET_BOUNDS_US) - 1)}"


class BufferStats:
    """In-process counters, with the part not yet saved to the backend kept apart."""

    def __init__(self) -> None:
        self.totals: Counter[str] = Counter()
        self._pending: Counter[str] = Counter()

    def count(self, name: str, amount: int = 1) -> None:
        """Add to a counter."""
        self.totals[name] += amount
        self._pending[name] += amount

    def lookup(self, outcome: Outcome, milliseconds: float) -> None:
        """Record one lookup, its outcome and how long it took."""
        self.count("lookups")
        self.count("misses" if outcome == "miss" else f"{outcome}_hits")
        self.count(latency_counter(outcome, milliseconds))

    @property
    def has_pending(self) -> bool:
        """Whether there are counts not yet saved."""
        return bool(self._pending)

    def take_pending(self) -> dict[str, int]:
        """The counts not yet saved, now considered saved."""
        pending = dict(self._pending)
        self._pending.clear()
        return pending

    def restore_pending(self, pending: Mapping[str, int]) -> None:
        """Put back counts whose save failed, to try again later."""
        self._pending.update(pending)

    def snapshot(self) -> StatsSnapshot:
        """This process's statistics."""
        return StatsSnapshot.from_counters(self.totals)


@dataclass(frozen=True)
class LayerFigures:
    """Lookups that ended in one layer, and their latency percentiles (ms)."""

    count: int
    p50_ms: float | None
    p95_ms: float | None
    p99_ms: float | None


@dataclass(frozen=True)
class StatsSnapshot:
    """Statistics as reported by ``va cache stats``."""

    counters: dict[str, int]
    layers: dict[str, LayerFigures] = field(default_factory=dict)

    @classmethod
    def from_counters(cls, counters: Mapping[str, int]) -> StatsSnapshot:
        """Read counters (in-process or persisted) into figures."""
        plain = {name: int(counters.get(name, 0)) for name in COUNTERS}
        histograms: dict[str, dict[int, int]] = {outcome: {} for outcome in OUTCOMES}
        for name, value in counters.items():
            if name.startswith(_LATENCY_PREFIX + ":"):
                _, outcome, bucket = name.split(":")
                if outcome in histograms and bucket.isdigit():
                    histograms[outcome][int(bucket)] = int(value)
        layers: dict[str, LayerFigures] = {
            outcome: LayerFigures(
                count=sum(histograms[outcome].values()),
                p50_ms=percentile(histograms[outcome], 50),
                p95_ms=percentile(histograms[outcome], 95),
                p99_ms=percentile(histograms[outcome], 99),
            )
            for outcome in OUTCOMES
        }
        return cls(plain, layers)

    @property
    def hits(self) -> int:
        """Lookups answered without the LLM."""
        return self.counters["prebuffered_hits"] + self.counters["cache_hits"]

    @property
    def hit_rate(self) -> float | None:
        """Hits over lookups (``None`` before the first lookup)."""
        lookups = self.counters["lookups"]
        return self.hits / lookups if lookups else None

    def as_json(self) -> dict[str, Any]:
        """Plain data for ``--json`` and the bench report."""
        return {
            **self.counters,
            "hits": self.hits,
            "hit_rate": None if self.hit_rate is None else round(self.hit_rate, 4),
            "latency_ms": {
                outcome: {
                    "count": figures.count,
                    "p50": figures.p50_ms,
                    "p95": figures.p95_ms,
                    "p99": figures.p99_ms,
                }
                for outcome, figures in self.layers.items()
            },
        }


def percentile(histogram: Mapping[int, int], pct: float) -> float | None:
    """The ``pct`` percentile of a bucket histogram, in ms (its bucket's upper bound)."""
    total = sum(histogram.values())
    if not total:
        return None
    rank = math.ceil(total * pct / 100)
    seen = 0
    for bucket in sorted(histogram):
        seen += histogram[bucket]
        if seen >= rank:
            return round(BUCKET_BOUNDS_US[bucket] / 1000, 4)
    return round(BUCKET_BOUNDS_US[-1] / 1000, 4)

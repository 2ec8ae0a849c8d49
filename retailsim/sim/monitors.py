"""Streaming monitors: latency tallies, per-bucket counts and sampled levels in bounded memory.

Rules kept: memory does not grow with the number of events — a tally keeps its first values exactly
(up to ``Tally.EXACT_LIMIT``, so small samples report true quantiles: one sample is its own p50 and p99)
and beyond that is a log-bucketed histogram (about 1% relative error on quantiles), counts are kept per time bucket, levels are sampled on a fixed
period — and the trace digest is a running SHA-256 over records formatted when hashed, never a stored list. :class:`Counts` is the run's
plain counters, one object shared by the rooms of a world, each adding to its own fields.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Callable
from dataclasses import dataclass, field

SAMPLE_S = 60.0  # the world samples its levels, and counts its stages, per minute of simulated time


@dataclass
class Counts:
    """What a world counts as it runs (read by the report): checkout, webhooks, deliveries, returns."""

    submitted: int = 0
    accepted: int = 0
    rejected: int = 0
    payment_declined: int = 0
    checkout_failed: int = 0
    not_offered: int = 0
    webhooks_sent: int = 0
    webhooks_abandoned: int = 0
    deliveries: int = 0
    missing_correlation: list[str] = field(default_factory=list)
    returns_requested: int = 0
    returns_in_store: int = 0
    returns_not_taken: int = 0  # the core could not be reached for an online return request
    bopis_orders: int = 0


class Tally:
    """Quantiles of a non-negative quantity: exact (nearest rank) while it holds at most ``EXACT_LIMIT``
    values, then from a log-bucketed histogram (constant memory)."""

    _RESOLUTION = 50.0  # buckets per e-fold: ~2% bucket width, ~1% error at the bucket midpoint
    #: Up to this many values are kept as they are; a bucket edge is no answer for a sample of ten.
    EXACT_LIMIT = 2048

    def __init__(self) -> None:
        self._buckets: dict[int, int] = {}
        self._exact: list[float] | None = []  # None once the sample outgrew EXACT_LIMIT
        self.count = 0
        self.total = 0.0
        self.maximum = 0.0

    def add(self, value: float) -> None:
        if self._exact is not None:
            if len(self._exact) < self.EXACT_LIMIT:
                self._exact.append(value)
            else:
                self._exact = None
        value = max(value, 1e-6)
        index = math.floor(math.log(value) * self._RESOLUTION)
        self._buckets[index] = self._buckets.get(index, 0) + 1
        self.count += 1
        self.total += value
        self.maximum = max(self.maximum, value)

    def quantile(self, q: float) -> float | None:
        if not self.count:
            return None
        if self._exact is not None:  # nearest rank: the smallest value with at least q of the sample at or below it
            ordered = sorted(self._exact)
            return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]
        rank = q * self.count
        seen = 0
        for index in sorted(self._buckets):
            seen += self._buckets[index]
            if seen >= rank:
                return min(self.maximum, math.exp((index + 0.5) / self._RESOLUTION))
        return self.maximum

    def summary(self) -> dict[str, float | None]:
        return {
            "count": float(self.count),
            "p50": self.quantile(0.5),
            "p90": self.quantile(0.9),
            "p99": self.quantile(0.99),
            "max": self.maximum if self.count else None,
            "mean": self.total / self.count if self.count else None,
        }


class BucketCounter:
    """Counts of named things per fixed time bucket (e.g. orders per minute by stage)."""

    def __init__(self, bucket_s: float) -> None:
        self.bucket_s = bucket_s
        self._counts: dict[str, dict[int, int]] = {}
        self.totals: dict[str, int] = {}

    def add(self, name: str, at: float, n: int = 1) -> None:
        series = self._counts.setdefault(name, {})
        bucket = int(at // self.bucket_s)
        series[bucket] = series.get(bucket, 0) + n
        self.totals[name] = self.totals.get(name, 0) + n

    def series(self, name: str, buckets: int) -> tuple[float, ...]:
        series = self._counts.get(name, {})
        return tuple(float(series.get(i, 0)) for i in range(buckets))


class LevelSampler:
    """Levels (queue depths, backlogs) sampled once per bucket."""

    def __init__(self) -> None:
        self._series: dict[str, list[float]] = {}

    def sample(self, name: str, value: float) -> None:
        self._series.setdefault(name, []).append(value)

    def names(self) -> list[str]:
        return list(self._series)

    def series(self, name: str) -> tuple[float, ...]:
        return tuple(self._series.get(name, ()))


class TraceDigest:
    """A running hash of the event trace: same seed and code → the same digest, byte for byte.

    ``tap``, when set, sees each line exactly as hashed (it cannot change what is hashed).

    A record is kept as the tuple it was given and formatted only when it is hashed: lines go into the
    hash in chunks of ``_CHUNK`` (SHA-256 of the concatenation does not depend on how it is fed), so memory
    stays bounded and the per-event cost is appending one tuple. :meth:`record_at` takes the simulated
    time as a float and writes it as ``record`` callers write it (``f"{now:.6f}"``), so either form
    hashes the same line.
    """

    _CHUNK = 1024

    def __init__(self) -> None:
        self._hash = hashlib.sha256()
        # (time or None, parts): a record as given, formatted when the chunk is hashed.
        self._pending: list[tuple[float | None, tuple[object, ...]]] = []
        self.events = 0
        #: Called with every line as it is hashed (a report's message flows read them back); read-only.
        self.tap: Callable[[str], None] | None = None

    def record(self, *parts: object) -> None:
        """One trace line, its parts joined by ``|``."""
        self._add(None, parts)

    def record_at(self, at: float, *parts: object) -> None:
        """One trace line that starts with the simulated time ``at`` (six decimals)."""
        self._add(at, parts)

    def _add(self, at: float | None, parts: tuple[object, ...]) -> None:
        self.events += 1
        pending = self._pending
        pending.append((at, parts))
        if self.tap is not None:
            self.tap(_line(at, parts))
        if len(pending) >= self._CHUNK:
            self._flush()

    def _flush(self) -> None:
        if self._pending:
            lines = [_line(at, parts) for at, parts in self._pending]
            lines.append("")  # every line ends with a newline, the chunk's last one too
            self._hash.update("\n".join(lines).encode())
            self._pending = []

    def hexdigest(self) -> str:
        self._flush()
        return self._hash.hexdigest()[:16]


def _line(at: float | None, parts: tuple[object, ...]) -> str:
    """A trace record as the line that is hashed."""
    text = "|".join(map(str, parts))
    return text if at is None else f"{at:.6f}|{text}" if parts else f"{at:.6f}"

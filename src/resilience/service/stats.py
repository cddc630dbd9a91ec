"""Counters and analysis-latency percentiles for ``GET /stats``. Thread-safe."""

from __future__ import annotations

import math
import threading
from collections import Counter, deque

from pydantic import BaseModel, ConfigDict

__all__ = ["Stats", "StatsSnapshot", "percentile"]

COUNTERS = (
    "requests",  # verdict requests (GET /logs, GET/POST /v1/attributions, POST /logs)
    "cache_hits",  # answered from the ledger
    "coalesced",  # joined an analysis already in flight
    "analyses",  # analyses started (calls of the engine)
    "analyses_failed",  # the engine raised (unreadable log, ...)
    "timeouts",  # ran past COMPUTE_TIMEOUT
    "refused_paths",  # path-safety refusals
    "rate_limited",  # 429 answers
)


def percentile(sorted_values: list[float], q: float) -> float | None:
    """Nearest-rank percentile (q in 0..100) of an ascending list; None when empty."""
    if not sorted_values:
        return None
    rank = max(1, math.ceil(q / 100.0 * len(sorted_values)))
    return sorted_values[min(rank, len(sorted_values)) - 1]


class StatsSnapshot(BaseModel):
    """What ``GET /stats`` returns."""

    model_config = ConfigDict(frozen=True)

    counters: dict[str, int]
    latency_samples: int
    latency_p50_s: float | None
    latency_p90_s: float | None
    latency_p99_s: float | None
    latency_max_s: float | None
    ledger_entries: int
    inflight: int


class Stats:
    """Counts events and keeps the last ``window`` analysis durations."""

    def __init__(self, window: int = 1024) -> None:
        self._counts: Counter[str] = Counter({name: 0 for name in COUNTERS})
        self._latency: deque[float] = deque(maxlen=window)
        self._lock = threading.Lock()

    def incr(self, name: str, n: int = 1) -> None:
        if name not in COUNTERS:
            raise KeyError(f"unknown counter {name!r}")
        with self._lock:
            self._counts[name] += n

    def observe(self, seconds: float) -> None:
        with self._lock:
            self._latency.append(seconds)

    def snapshot(self, *, ledger_entries: int, inflight: int) -> StatsSnapshot:
        with self._lock:
            counts = dict(self._counts)
            lat = sorted(self._latency)
        return StatsSnapshot(
            counters=counts,
            latency_samples=len(lat),
            latency_p50_s=percentile(lat, 50),
            latency_p90_s=percentile(lat, 90),
            latency_p99_s=percentile(lat, 99),
            latency_max_s=lat[-1] if lat else None,
            ledger_entries=ledger_entries,
            inflight=inflight,
        )

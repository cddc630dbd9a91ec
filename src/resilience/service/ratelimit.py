"""Per-client token buckets (one bucket per (client, scope)).

A bucket holds up to ``burst`` tokens and refills at ``rate`` tokens per second; a request
takes one token or is refused with the time until one is available (the Retry-After).
Token bucket rather than a fixed window: it allows the short bursts an agent fleet produces
after a failure but bounds the sustained rate, and it has no window edge where twice the
limit gets through. The clock is injected; the table of buckets is bounded (least recently
used clients are forgotten, which at worst gives a forgotten client a fresh burst).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["RateLimiter", "RateRule", "retry_after_header"]

Clock = Callable[[], float]


@dataclass(frozen=True)
class RateRule:
    """``rate`` tokens per second (0 = unlimited), at most ``burst`` saved up."""

    rate: float
    burst: int


@dataclass
class _Bucket:
    tokens: float
    stamp: float


class RateLimiter:
    """Decides whether a client may make one more request in a scope."""

    def __init__(
        self,
        rules: dict[str, RateRule],
        clock: Clock = time.monotonic,
        max_clients: int = 10_000,
    ) -> None:
        self._rules = dict(rules)
        self._clock = clock
        self._max = max_clients
        self._buckets: OrderedDict[tuple[str, str], _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def acquire(self, scope: str, client: str) -> float:
        """Take a token. Returns 0.0 if allowed, else the seconds to wait before retrying."""
        rule = self._rules[scope]
        if rule.rate <= 0:
            return 0.0
        now = self._clock()
        with self._lock:
            bucket = self._bucket((scope, client), rule, now)
            bucket.tokens = min(rule.burst, bucket.tokens + (now - bucket.stamp) * rule.rate)
            bucket.stamp = now
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / rule.rate

    def _bucket(self, key: tuple[str, str], rule: RateRule, now: float) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = _Bucket(tokens=float(rule.burst), stamp=now)
            self._buckets[key] = bucket
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
        else:
            self._buckets.move_to_end(key)
        return bucket


def retry_after_header(seconds: float) -> str:
    """Retry-After is whole seconds; never advertise 0 for a refused request."""
    return str(max(1, math.ceil(seconds)))

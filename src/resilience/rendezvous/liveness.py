"""Keep-alive leases, judged by the leader's own monotonic clock.

Agents rewrite their lease key with a new value every ``keep_alive_interval``; the leader only
records *when it saw the value change*. Comparing the leader's clock with itself makes the
check immune to clock skew between nodes. Pure: ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

__all__ = ["LeaseTracker"]


@dataclass
class LeaseTracker:
    timeout: float
    _seen: dict[int, tuple[bytes, float]] = field(default_factory=dict)

    def observe(self, slot: int, value: bytes, now: float) -> None:
        prev = self._seen.get(slot)
        if prev is None or prev[0] != value:
            self._seen[slot] = (value, now)

    def stale(self, slots: Iterable[int], now: float) -> list[int]:
        """Slots whose lease has not changed for longer than ``timeout`` (unseen: not stale)."""
        return [s for s in slots if s in self._seen and now - self._seen[s][1] > self.timeout]

    def silent_for(self, slot: int, now: float) -> float:
        seen = self._seen.get(slot)
        return 0.0 if seen is None else now - seen[1]

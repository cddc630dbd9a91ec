"""Jobs: which (job, cycle) was triggered, by whom, for which files.

The first trigger of a (job, cycle) fixes its log files; later triggers only count (N agents
triggering one cycle is normal: the verdict is computed once, the files' analyses being
coalesced and ledgered by the analyzer). Bounded: the oldest (job, cycle) is forgotten first.
"""

from __future__ import annotations

import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, replace

from resilience.service.models import JobCycleView, JobView
from resilience.service.paths import SafeFile

__all__ = ["JobCycle", "JobRegistry"]

Key = tuple[str, int | None]


@dataclass(frozen=True)
class JobCycle:
    job_id: str
    cycle_id: int | None
    files: tuple[SafeFile, ...]
    user: str = ""
    node: str = ""
    submitted: float = 0.0
    triggers: int = 1

    def view(self) -> JobCycleView:
        return JobCycleView(
            cycle_id=self.cycle_id,
            log_paths=[str(f.path) for f in self.files],
            user=self.user,
            node=self.node,
            submitted=self.submitted,
            triggers=self.triggers,
        )


class JobRegistry:
    """Thread-safe, bounded table of (job, cycle) -> JobCycle."""

    def __init__(self, max_entries: int, clock: Callable[[], float] = time.time) -> None:
        self._max = max_entries
        self._clock = clock
        self._cycles: OrderedDict[Key, JobCycle] = OrderedDict()
        self._lock = threading.Lock()

    def trigger(self, job_id: str, cycle_id: int | None, files: tuple[SafeFile, ...],
                user: str = "", node: str = "") -> JobCycle:
        """Register a trigger; returns the (possibly pre-existing) record with its count."""
        key = (job_id, cycle_id)
        with self._lock:
            known = self._cycles.get(key)
            if known is not None:
                updated = replace(known, triggers=known.triggers + 1)
            else:
                updated = JobCycle(job_id, cycle_id, files, user, node, self._clock())
            self._cycles[key] = updated
            self._cycles.move_to_end(key)
            while len(self._cycles) > self._max:
                self._cycles.popitem(last=False)
            return updated

    def get(self, job_id: str, cycle_id: int | None) -> JobCycle | None:
        with self._lock:
            return self._cycles.get((job_id, cycle_id))

    def jobs(self) -> list[JobView]:
        with self._lock:
            cycles = list(self._cycles.values())
        by_job: dict[str, list[JobCycleView]] = {}
        for jc in cycles:
            by_job.setdefault(jc.job_id, []).append(jc.view())
        return [JobView(job_id=j, cycles=cs) for j, cs in sorted(by_job.items())]

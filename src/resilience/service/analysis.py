"""The analyzer: ledger first, then one shared analysis per (files, cycle) in a worker thread.

The unit of work is a *subject*: one log file, or a set of them (one job cycle's per-rank logs,
analysed together so the engine can pick the root across ranks). Its key is the sorted resolved
paths joined by NUL (a byte no path contains); its "version" is (max mtime, total size).

The analysis functions are injected (``AnalyzeFn`` for one file, ``AnalyzeManyFn`` for a set);
the shipped defaults are the embedded rules engine (``service.engine``). They run in a bounded
thread pool under ``compute_timeout``, so the event loop never blocks on them. A timed-out
analysis cannot be killed (it is a thread): its waiters get AnalysisTimeoutError at once, and if
it ever finishes its verdict is still recorded.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Sequence
from concurrent.futures import Executor
from pathlib import Path

from pydantic import ValidationError

from resilience.attribution import Verdict
from resilience.errors import AttributionError
from resilience.service.coalesce import Coalescer, wait_for_result
from resilience.service.errors import AnalysisTimeoutError
from resilience.service.ledger import Ledger
from resilience.service.paths import SafeFile
from resilience.service.stats import Stats

__all__ = ["AnalyzeFn", "AnalyzeManyFn", "Analyzer", "InflightItem", "Subject", "subject"]

log = logging.getLogger("resilience.service.analysis")

AnalyzeFn = Callable[[Path, "int | None"], Verdict]
AnalyzeManyFn = Callable[[Sequence[Path], "int | None"], Verdict]
Key = tuple[str, int | None]
InflightItem = tuple[list[str], int | None, float]  # paths, cycle, started (unix time)
SEP = "\x00"


class Subject(tuple[SafeFile, ...]):
    """Files analysed together, sorted by path, no duplicates."""

    @property
    def key(self) -> str:
        return SEP.join(str(f.path) for f in self)

    @property
    def mtime_ns(self) -> int:
        return max(f.mtime_ns for f in self)

    @property
    def size(self) -> int:
        return sum(f.size for f in self)

    @property
    def paths(self) -> list[str]:
        return [str(f.path) for f in self]


def subject(files: Sequence[SafeFile]) -> Subject:
    unique = {f.path: f for f in files}
    return Subject(unique[p] for p in sorted(unique))


class Analyzer:
    """Answers "the verdict for these files and this cycle" with at most one analysis at once."""

    def __init__(self, analyze: AnalyzeFn, analyze_many: AnalyzeManyFn, ledger: Ledger,
                 stats: Stats, executor: Executor, compute_timeout: float) -> None:
        self._analyze = analyze
        self._analyze_many = analyze_many
        self._ledger = ledger
        self._stats = stats
        self._executor = executor
        self._timeout = compute_timeout
        self._coalescer: Coalescer[Key, Verdict] = Coalescer()
        self._started: dict[Key, float] = {}

    def inflight(self) -> list[InflightItem]:
        return [(k.split(SEP), c, self._started.get((k, c), 0.0))
                for k, c in self._coalescer.inflight_keys()]

    def cached(self, subj: Subject, cycle: int | None) -> Verdict | None:
        entry = self._ledger.lookup(subj.key, cycle, subj.mtime_ns, subj.size)
        if entry is None:
            return None
        try:
            return Verdict.model_validate(entry.verdict)
        except ValidationError:  # recorded by an older engine: analyse again
            return None

    def request(self, subj: Subject, cycle: int | None) -> Verdict | asyncio.Task[Verdict]:
        """The cached verdict, or the in-flight task computing it (started if needed)."""
        self._stats.incr("requests")
        verdict = self.cached(subj, cycle)
        if verdict is not None:
            self._stats.incr("cache_hits")
            return verdict
        task, started = self._coalescer.start((subj.key, cycle), lambda: self._run(subj, cycle))
        if not started:
            self._stats.incr("coalesced")
        return task

    async def verdict(self, subj: Subject, cycle: int | None, wait: float) -> Verdict | None:
        """The verdict if known within ``wait`` seconds, else None. Raises AttributionError."""
        got = self.request(subj, cycle)
        if isinstance(got, Verdict):
            return got
        return await wait_for_result(got, wait)

    async def _run(self, subj: Subject, cycle: int | None) -> Verdict:
        key = (subj.key, cycle)
        self._started[key] = time.time()
        self._stats.incr("analyses")
        loop = asyncio.get_running_loop()
        job = loop.run_in_executor(self._executor, self._analyze_and_record, subj, cycle)
        try:
            return await asyncio.wait_for(job, timeout=self._timeout)
        except TimeoutError:
            self._stats.incr("timeouts")
            raise AnalysisTimeoutError(
                f"analysis of {', '.join(subj.paths)} ran past the compute timeout "
                f"({self._timeout:g} s)"
            ) from None
        finally:
            self._started.pop(key, None)

    def _analyze_and_record(self, subj: Subject, cycle: int | None) -> Verdict:
        """Worker thread: run the engine, then record before the task is seen as finished."""
        t0 = time.perf_counter()
        try:
            if len(subj) == 1:
                verdict = self._analyze(subj[0].path, cycle)
            else:
                verdict = self._analyze_many([f.path for f in subj], cycle)
        except AttributionError:
            self._stats.incr("analyses_failed")
            raise
        self._stats.observe(time.perf_counter() - t0)
        self._ledger.record(subj.key, cycle, subj.mtime_ns, subj.size,
                            verdict.model_dump(mode="json"))
        return verdict

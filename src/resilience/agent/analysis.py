"""Streaming attribution on the agent: every worker line goes through an Analyzer as the pump
tees it, so the node's digests are ready the moment a worker dies.

One analyser per (rank, stream): stdout and stderr are pumped by two threads, so their lines
reach us in no reliable order across streams. Within one stream the order is the worker's own;
the engine's "error followed by progress is stale" rule must only see that order (fed across
streams, a traceback could arrive before the step lines printed just before it, and the STOP
would turn into RESTART). Small batches keep the scan that is left for failure time short.
"""

from __future__ import annotations

import threading

from resilience.attribution import Analyzer

__all__ = ["NodeAnalysis"]

BATCH = 256  # lines per scan: at most this many per stream are left to scan at failure time


class NodeAnalysis:
    def __init__(self, host: str) -> None:
        self._host = host
        # Compile the pattern registry now, not at the first error line (the failure).
        warm = Analyzer(rank=0)
        warm.feed("RuntimeError: warm-up")
        warm.digest()
        self._lock = threading.Lock()
        self._analyzers: dict[tuple[int, bool], Analyzer] = {}

    def start_cycle(self, cycle: int, ranks: range) -> None:
        with self._lock:
            self._analyzers = {
                (r, err): Analyzer(rank=r, node=self._host, cycle_id=cycle, batch_lines=BATCH)
                for r in ranks
                for err in (False, True)
            }

    def hook(self, rank: int, is_err: bool, line: bytes) -> None:
        """Called by the log pumps (two threads per worker) for every line; the analyser's
        per-line path is an append, scanned in batches (thread-safe)."""
        analyzer = self._analyzers.get((rank, is_err))
        if analyzer is not None:
            analyzer.feed_line_bytes(line)

    def digests_json(self) -> list[str]:
        with self._lock:
            entries = list(self._analyzers.values())
        return [analyzer.digest().to_json() for analyzer in entries]

"""Streaming attribution on the agent: every worker line goes through a per-rank Analyzer as
the pump tees it, so the node's digests are ready the moment a worker dies."""

from __future__ import annotations

import threading

from resilience.attribution import Analyzer

__all__ = ["NodeAnalysis"]


class NodeAnalysis:
    def __init__(self, host: str) -> None:
        self._host = host
        self._lock = threading.Lock()
        self._analyzers: dict[int, Analyzer] = {}

    def start_cycle(self, cycle: int, ranks: range) -> None:
        with self._lock:
            self._analyzers = {r: Analyzer(rank=r, node=self._host, cycle_id=cycle) for r in ranks}

    def hook(self, rank: int, line: bytes) -> None:
        """Called by the log pumps (two threads per worker) for every line; the analyser's
        per-line path is an append, scanned in batches (thread-safe)."""
        analyzer = self._analyzers.get(rank)
        if analyzer is not None:
            analyzer.feed_line_bytes(line)

    def digests_json(self) -> list[str]:
        with self._lock:
            entries = list(self._analyzers.values())
        return [analyzer.digest().to_json() for analyzer in entries]

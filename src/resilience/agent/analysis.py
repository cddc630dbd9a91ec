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
        self._analyzers: dict[int, tuple[threading.Lock, Analyzer]] = {}

    def start_cycle(self, cycle: int, ranks: range) -> None:
        with self._lock:
            self._analyzers = {
                r: (threading.Lock(), Analyzer(rank=r, node=self._host, cycle_id=cycle))
                for r in ranks
            }

    def hook(self, rank: int, line: bytes) -> None:
        """Called by the log pumps (two threads per worker) for every line."""
        entry = self._analyzers.get(rank)
        if entry is None:
            return
        lock, analyzer = entry
        with lock:
            analyzer.feed(line.decode("utf-8", "replace"))

    def digests_json(self) -> list[str]:
        with self._lock:
            entries = list(self._analyzers.values())
        out = []
        for lock, analyzer in entries:
            with lock:
                out.append(analyzer.digest().to_json())
        return out

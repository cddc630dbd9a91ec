"""Streaming attribution on the agent: worker output is analysed as it is written, so the
node's digests are ready the moment a worker dies.

The pumps only queue their chunks (`Analyzer.queue_bytes`, an append); one drain thread per
node scans them in slices of `SLICE` bytes, every `INTERVAL` s or as soon as a stream has
`WAKE_BYTES` waiting. So the scan is never on a pump's path and a worker's logging does not
wait for it; at failure time `digests_json()` scans only what the last interval left.

One analyser per (rank, stream): stdout and stderr are pumped by two threads, so their lines
reach us in no reliable order across streams. Within one stream the order is the worker's own;
the engine's "error followed by progress is stale" rule must only see that order (fed across
streams, a traceback could arrive before the step lines printed just before it, and the STOP
would turn into RESTART).
"""

from __future__ import annotations

import contextlib
import os
import sys
import threading
import time

from resilience.attribution import Analyzer

__all__ = ["NodeAnalysis"]

INTERVAL = 0.05  # s between drains when output is slow
WAKE_BYTES = 1 << 20  # a stream with this much waiting wakes the drain at once
SLICE = 1 << 14  # bytes scanned at a time (~0.2 ms); the GIL is handed back between slices
MAX_PENDING = 4 << 20  # per stream; beyond it the oldest unscanned output is dropped (counted)
SWITCH_INTERVAL = 0.0005  # s, this process's GIL switch interval (see __init__)
DRAIN_NICE = 19  # the drain thread's nice value


class NodeAnalysis:
    def __init__(self, host: str) -> None:
        self._host = host
        # Compile the pattern registry now, not at the first error line (the failure).
        warm = Analyzer(rank=0)
        warm.feed("RuntimeError: warm-up")
        warm.digest()
        self._lock = threading.Lock()
        self._analyzers: dict[tuple[int, bool], Analyzer] = {}
        self._wake = threading.Event()
        self._closed = False
        # A pump waiting for the GIL gets it after at most this long (default 5 ms), even
        # while the drain is busy: the drain then falls behind (and drops old unscanned
        # output past MAX_PENDING) instead of the pumps, which would block the workers.
        sys.setswitchinterval(min(sys.getswitchinterval(), SWITCH_INTERVAL))
        self._thread = threading.Thread(target=self._drain, name="resilience-analysis",
                                        daemon=True)
        self._thread.start()

    def start_cycle(self, cycle: int, ranks: range) -> None:
        with self._lock:
            self._analyzers = {
                (r, err): Analyzer(rank=r, node=self._host, cycle_id=cycle, batch_lines=None,
                                   max_pending=MAX_PENDING)
                for r in ranks
                for err in (False, True)
            }

    def hook(self, rank: int, is_err: bool, data: bytes) -> None:
        """Called by the log pumps (two threads per worker) with each chunk of lines."""
        analyzer = self._analyzers.get((rank, is_err))
        if analyzer is not None and analyzer.queue_bytes(data) >= WAKE_BYTES:
            self._wake.set()

    @property
    def pending_bytes(self) -> int:
        """Output queued and not scanned yet (what the drain has still to do)."""
        return sum(a.pending_bytes for a in list(self._analyzers.values()))

    def digests_json(self) -> list[str]:
        with self._lock:
            entries = list(self._analyzers.values())
        return [analyzer.digest().to_json() for analyzer in entries]

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        self._thread.join(timeout=5)

    def _drain(self) -> None:
        # The lowest CPU priority for this thread only (Linux: a thread id is a pid here):
        # where cores are short, the scan waits, not the workers or the pumps.
        with contextlib.suppress(OSError, AttributeError):
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), DRAIN_NICE)
        while not self._closed:
            self._wake.wait(INTERVAL)
            self._wake.clear()
            with self._lock:
                entries = list(self._analyzers.values())
            busy = True
            while busy and not self._closed:
                busy = False
                for analyzer in entries:
                    if analyzer.pending_bytes:
                        busy = analyzer.drain(SLICE) > 0 or busy
                        time.sleep(0)  # let a pump that waits for the GIL have it now

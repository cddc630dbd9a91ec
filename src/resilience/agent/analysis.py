"""Streaming attribution on the agent: worker output is analysed as it is written, so the
node's digests are ready the moment a worker dies.

The pumps only queue their chunks (`Analyzer.queue_bytes`, an append); one drain thread per
node scans them in slices of `SLICE` bytes, every `INTERVAL` s or as soon as a stream has
`WAKE_BYTES` waiting. So the scan is never on a pump's path; at failure time
`digests_json()` scans only what the drain has not reached yet. The drain runs at the
launcher's own priority: a lower one (we tried nice 19) lets the kernel deschedule it while it
holds the GIL and the analyser's lock, and then the pumps and the agent wait on it (measured:
worker logging 3x slower and digests 1-2 s late on a busy CPU).

One analyser per (rank, stream): stdout and stderr are pumped by two threads, so their lines
reach us in no reliable order across streams. Within one stream the order is the worker's own;
the engine's "error followed by progress is stale" rule must only see that order (fed across
streams, a traceback could arrive before the step lines printed just before it, and the STOP
would turn into RESTART). A pump is bound to its cycle's analysers when it starts (`bind`), so
a pump that outlives its cycle never feeds the next one's.
"""

from __future__ import annotations

import sys
import threading
import time

from resilience.agent.logs import LineHook
from resilience.attribution import Analyzer

__all__ = ["NodeAnalysis", "backoff"]

INTERVAL = 0.05  # s between drains when output is slow
WAKE_BYTES = 1 << 20  # a stream with this much waiting wakes the drain at once
SLICE = 1 << 14  # bytes scanned at a time (~0.2-0.5 ms); the GIL is handed back between slices
MAX_PENDING = 4 << 20  # per stream; beyond it the oldest unscanned output is dropped (counted)
SWITCH_INTERVAL = 0.0005  # s, this process's GIL switch interval while started (see start)
# A pump that reads this much at once found its pipe (256 KiB) three-quarters full: its worker
# logs faster than the pump keeps up with (the pump aims at half) and is about to block. Then
# the drain stands back for BACKOFF s between slices: the pumps need the launcher's CPU and
# the GIL more than it does. It falls behind; past MAX_PENDING the oldest unscanned output is
# dropped (counted, the digest says `truncated`) and the rest is scanned at failure time.
# Measured (bench/tee_overhead.py, Megatron lines, worker writing flat out): worker +68 %
# without this, +20-33 % with it. Relative to LogPump's 256 KiB pipe: where enlarging the pipe
# fails (64 KiB, or 8 KiB past pipe-user-pages-soft) no chunk is this big and the drain never
# stands back (known limit).
PRESSURE_BYTES = 3 << 16
BACKOFF = 0.002


def backoff(now: float, pressed_at: float) -> float:
    """Seconds the drain sleeps after a slice: 0 (only handing the GIL over), or BACKOFF
    while a pump found its pipe full within the last BACKOFF s."""
    return BACKOFF if now - pressed_at < BACKOFF else 0.0


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
        self._failed = False
        self._thread: threading.Thread | None = None
        self._saved_interval: float | None = None
        self._pressure = -1.0  # monotonic time of the last nearly-full pipe read

    def start(self) -> None:
        """Start the drain thread. A pump waiting for the GIL then gets it within
        SWITCH_INTERVAL (default 5 ms) even while the drain scans: the drain falls behind
        (and drops old unscanned output past MAX_PENDING) rather than the pumps, which would
        block the workers. `close()` restores the interval."""
        self._saved_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(self._saved_interval, SWITCH_INTERVAL))
        self._thread = threading.Thread(target=self._drain, name="resilience-analysis",
                                        daemon=True)
        self._thread.start()

    def close(self) -> None:
        self._closed = True
        self._wake.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
        if self._saved_interval is not None:
            sys.setswitchinterval(self._saved_interval)
            self._saved_interval = None

    def start_cycle(self, cycle: int, ranks: range) -> None:
        with self._lock:
            self._analyzers = {
                (r, err): Analyzer(rank=r, node=self._host, cycle_id=cycle, batch_lines=None,
                                   max_pending=MAX_PENDING)
                for r in ranks
                for err in (False, True)
            }

    @property
    def pressed(self) -> bool:
        """Whether a pump found its pipe nearly full within the last BACKOFF s (the drain
        stands back)."""
        return backoff(time.monotonic(), self._pressure) > 0

    def bind(self, rank: int) -> LineHook | None:
        """The hook for the pumps of `rank`'s worker in the current cycle."""
        with self._lock:
            streams = {err: self._analyzers.get((rank, err)) for err in (False, True)}
        if streams[False] is None and streams[True] is None:
            return None

        def hook(_rank: int, is_err: bool, data: bytes) -> None:
            analyzer = streams[is_err]
            if len(data) >= PRESSURE_BYTES:
                self._pressure = time.monotonic()
            if analyzer is not None and analyzer.queue_bytes(data) >= WAKE_BYTES:
                self._wake.set()

        return hook

    @property
    def pending_bytes(self) -> int:
        """Output queued and not scanned yet (what the drain has still to do)."""
        return sum(a.pending_bytes for a in list(self._analyzers.values()))

    def digests_json(self) -> list[str]:
        with self._lock:
            entries = list(self._analyzers.values())
        return [analyzer.digest().to_json() for analyzer in entries]

    def _drain(self) -> None:
        while not self._closed and not self._failed:
            self._wake.wait(INTERVAL)
            self._wake.clear()
            with self._lock:
                entries = list(self._analyzers.values())
            busy = True
            while busy and not self._closed and not self._failed:
                busy = False
                for analyzer in entries:
                    if analyzer.pending_bytes:
                        busy = self._drain_one(analyzer) or busy
                        # let a pump that waits for the GIL have it now; stand back while
                        # a pump is behind
                        time.sleep(backoff(time.monotonic(), self._pressure))

    def _drain_one(self, analyzer: Analyzer) -> bool:
        """Scan one slice; True if more is pending. A failing scan (a bug) is reported once
        and the rest of that stream is scanned at failure time by `digests_json`."""
        try:
            return analyzer.drain(SLICE) > 0
        except Exception as exc:  # the logs and the job go on without the background scan
            if not self._failed:
                self._failed = True
                sys.stderr.write(f"[resilience] warning: background log analysis failed "
                                 f"({exc!r}); digests are scanned at failure time instead\n")
            return False

"""The streaming analyzer: feed lines (or byte chunks) as they are written; ask for a digest.

`feed_line_bytes(line)` (and `feed(line)` for text) only appends to a batch; every
`batch_lines` lines the batch is joined and scanned with the shared keyword prefilter
(`scan.candidate_lines`), so the cost of regexes is paid only for the few lines that mention an
error, a cycle marker or progress. `feed_bytes(chunk)` scans raw chunks directly.
Memory is bounded: at most `max_candidates` candidates per role and cycle, and the last
`max_cycles` cycles.

Threads: `feed_line_bytes` and `feed` may be called from several threads at once (a worker's
stdout and stderr pumps) without a lock of the caller's: the append is atomic and the scan runs
under the analyzer's own lock, which `digest()`/`digests()`/`flush()` take too. `feed_bytes`
keeps a partial line between calls, so it expects a single stream (one thread).
"""

from __future__ import annotations

import threading

from .cycle_state import CycleState
from .lines import find_timestamp, parse_line
from .markers import CHECKPOINT_RE, PROGRESS_RE, parse_cycle_marker
from .registry import MAX_MATCH_CHARS
from .scan import candidate_lines

__all__ = ["Analyzer", "NodeDigest"]

from .digest import NodeDigest

_MAX_PARTIAL = 1 << 20  # a "line" longer than this is cut (memory bound for feed_bytes)
_LOOKBACK = 1024  # bytes before a candidate searched for a timestamp when it has none
_ELASTIC_LINES = 11  # lines after `Root Cause (first observed failure):` holding its fields
_ELASTIC_BYTES = 4096  # ... read from at most this many bytes from the header on


class Analyzer:
    """Incremental analysis of one stream (a worker, a node, or a file)."""

    def __init__(
        self,
        *,
        rank: int | None = None,
        node: str | None = None,
        cycle_id: int = 0,
        max_candidates: int = 32,
        max_cycles: int = 64,
        batch_lines: int = 4096,
        truncated: bool = False,
    ) -> None:
        self._rank, self._node = rank, node
        self._max_candidates, self._max_cycles = max_candidates, max_cycles
        self._batch_lines = batch_lines
        self._truncated = truncated
        self._lock = threading.Lock()
        self._pending: list[bytes] = []  # only ever appended to, or cut from the front
        self._partial = b""
        self._lines = 0  # complete lines scanned so far
        self._closed: list[NodeDigest] = []
        self._carry = b""  # end of the previous block, for timestamp look-back
        self._elastic: tuple[int, str, bytes] | None = None  # a block ended inside it
        self._cycle = self._new_cycle(cycle_id, 1)

    # ---- input ---------------------------------------------------------------------------
    def feed_line_bytes(self, line: bytes) -> None:
        """One line as read from a pipe (`readline()`), with or without its newline.

        The per-line fast path: an append; every `batch_lines` lines the batch is scanned
        (amortised, see the module docstring). Thread-safe.
        """
        pending = self._pending
        pending.append(line)
        if len(pending) >= self._batch_lines:
            with self._lock:
                self._flush_lines()

    def feed(self, line: str) -> None:
        """One line of text, with or without its trailing newline. Thread-safe."""
        pending = self._pending
        pending.append(line.encode("utf-8", "surrogatepass"))
        if len(pending) >= self._batch_lines:
            with self._lock:
                self._flush_lines()

    def feed_bytes(self, data: bytes) -> None:
        """A chunk of raw output; partial lines are kept until their newline arrives."""
        with self._lock:
            self._flush_lines()
            if self._partial:
                data = self._partial + data
            cut = data.rfind(b"\n") + 1
            self._partial = data[cut:]
            if len(self._partial) > _MAX_PARTIAL:
                data, cut, self._partial = data + b"\n", len(data) + 1, b""
            if cut:
                self._scan(data, cut)

    def flush(self) -> None:
        """Scan everything fed so far (an unterminated last line counts as a line)."""
        with self._lock:
            self._flush()

    # ---- output --------------------------------------------------------------------------
    def digest(self) -> NodeDigest:
        """The digest of the current (last) cycle."""
        with self._lock:
            return self._digest()

    def digests(self) -> tuple[NodeDigest, ...]:
        """Digests of every cycle seen, oldest first (the last one is `digest()`)."""
        with self._lock:
            current = self._digest()
            return (*self._closed, current)

    @property
    def lines(self) -> int:
        return self._lines

    # ---- internals -----------------------------------------------------------------------
    def _new_cycle(self, cycle_id: int, first_line: int) -> CycleState:
        return CycleState(cycle_id=cycle_id, first_line=first_line, rank=self._rank,
                          node=self._node, max_candidates=self._max_candidates,
                          truncated=self._truncated)

    def _digest(self) -> NodeDigest:
        self._flush()
        if self._elastic is not None:
            self._elastic_root(*self._elastic, complete=True)
        return self._cycle.to_digest(self._lines)

    def _flush(self) -> None:
        self._flush_lines()
        if self._partial:
            data, self._partial = self._partial + b"\n", b""
            self._scan(data, len(data))

    def _flush_lines(self) -> None:
        """Scan the pending lines (caller holds the lock). Lines appended meanwhile by another
        thread land after index n and stay for the next batch."""
        pending = self._pending
        n = len(pending)
        if not n:
            return
        batch = pending[:n]
        del pending[:n]
        data = b"".join(batch)
        if data.count(b"\n") != n or not data.endswith(b"\n"):
            data = b"\n".join(line.rstrip(b"\r\n") for line in batch) + b"\n"
        self._scan(data, len(data))

    def _scan(self, buf: bytes, end: int) -> None:
        if self._elastic is not None:
            self._finish_elastic(self._elastic, buf, end)
        found = candidate_lines(buf, end)
        errors, count = found.errors, buf.count
        progress, checkpoint = PROGRESS_RE.search, CHECKPOINT_RE.search
        prev, lineno = 0, self._lines
        for start, stop in found.spans:
            lineno += count(b"\n", prev, start)
            prev = start
            raw = buf[start:min(stop, start + MAX_MATCH_CHARS)].decode("utf-8", "replace")
            if start in errors:
                self._line(raw, lineno + 1, buf, start, end)
                continue
            # only a progress keyword, the common case: markers.parse_progress, inlined
            m = progress(raw)
            ckpt = "heckpoint" in raw and checkpoint(raw) is not None
            if m is not None or ckpt:
                self._cycle.add_step(int(m.group(1)) if m else None, ckpt, lineno + 1)
        self._lines = lineno + count(b"\n", prev, end)
        tail = buf[max(0, end - _LOOKBACK):end]
        self._carry = (self._carry + tail)[-_LOOKBACK:] if len(tail) < _LOOKBACK else tail

    def _line(self, raw: str, lineno: int, buf: bytes, start: int, end: int) -> None:
        info = parse_line(raw)
        marker = parse_cycle_marker(info.content) if "ycle" in info.content else None
        if marker is not None and marker != self._cycle.cycle_id:
            self._start_cycle(marker, lineno)
            return
        if "Root Cause" in info.content:
            self._elastic_root(lineno, raw, buf[start:min(end, start + _ELASTIC_BYTES)],
                               complete=start + _ELASTIC_BYTES <= end)
            return
        self._cycle.add_line(info, raw, lineno, lambda: self._look_back(buf, start))

    def _look_back(self, buf: bytes, start: int) -> float | None:
        """Timestamp of the nearest earlier line that has one (within _LOOKBACK bytes)."""
        before = buf[max(0, start - _LOOKBACK):start]
        if len(before) < _LOOKBACK:
            before = self._carry[max(0, len(self._carry) - _LOOKBACK + len(before)):] + before
        return find_timestamp(before.decode("utf-8", "replace")) if before else None

    def _elastic_root(self, lineno: int, header: str, following: bytes, complete: bool) -> None:
        """torchelastic's block: `following` holds the bytes from its header line on."""
        lines = following.decode("utf-8", "replace").splitlines()[1:_ELASTIC_LINES + 1]
        if len(lines) < _ELASTIC_LINES and not complete:
            self._elastic = (lineno, header, following)  # completed by the next block(s)
        else:
            self._elastic = None
            self._cycle.add_elastic_root(lineno, lines, header)

    def _finish_elastic(self, pending: tuple[int, str, bytes], buf: bytes, end: int) -> None:
        lineno, header, following = pending
        more = buf[:min(end, _ELASTIC_BYTES - len(following))]
        self._elastic_root(lineno, header, following + more,
                           complete=len(following) + end >= _ELASTIC_BYTES)

    def _start_cycle(self, cycle_id: int, lineno: int) -> None:
        cur = self._cycle
        if cur.from_marker or cur.has_content():
            self._closed.append(cur.to_digest(lineno - 1))
            del self._closed[:-self._max_cycles]
        self._cycle = self._new_cycle(cycle_id, lineno)
        self._cycle.from_marker = True

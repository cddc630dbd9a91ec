"""The streaming analyzer: feed lines (or byte chunks) as they are written; ask for a digest.

`feed(line)` only appends to a batch (about a hundred nanoseconds); every `batch_lines` lines
the batch is scanned with the shared keyword prefilter (`scan.candidate_spans`), so the cost of
regexes is paid only for the few lines that mention an error, a cycle marker or progress.
Memory is bounded: at most `max_candidates` candidates per role and cycle, and the last
`max_cycles` cycles.
"""

from __future__ import annotations

from .cycle_state import CycleState
from .lines import find_timestamp, parse_line
from .markers import parse_cycle_marker
from .registry import KEYWORDS, MAX_MATCH_CHARS
from .scan import candidate_spans

__all__ = ["Analyzer", "NodeDigest"]

from .digest import NodeDigest

_MAX_PARTIAL = 1 << 20  # a "line" longer than this is cut (memory bound for feed_bytes)
_LOOKBACK = 1024  # bytes before a candidate searched for a timestamp when it has none
_ELASTIC_LINES = 11  # lines after `Root Cause (first observed failure):` holding its fields


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
        self._pending: list[str] = []
        self._partial = b""
        self._lines = 0  # complete lines scanned so far
        self._closed: list[NodeDigest] = []
        self._carry = b""  # end of the previous block, for timestamp look-back
        self._elastic: tuple[int, str, list[str]] | None = None  # block ended inside it
        self._cycle = self._new_cycle(cycle_id, 1)

    # ---- input ---------------------------------------------------------------------------
    def feed(self, line: str) -> None:
        """One line, with or without its trailing newline."""
        pending = self._pending
        pending.append(line)
        if len(pending) >= self._batch_lines:
            self._flush_lines()

    def feed_bytes(self, data: bytes) -> None:
        """A chunk of raw output; partial lines are kept until their newline arrives."""
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
        self._flush_lines()
        if self._partial:
            data, self._partial = self._partial + b"\n", b""
            self._scan(data, len(data))

    # ---- output --------------------------------------------------------------------------
    def digest(self) -> NodeDigest:
        """The digest of the current (last) cycle."""
        self.flush()
        if self._elastic is not None:
            lineno, header, following = self._elastic
            self._elastic = None
            self._cycle.add_elastic_root(lineno, following, header)
        return self._cycle.to_digest(self._lines)

    def digests(self) -> tuple[NodeDigest, ...]:
        """Digests of every cycle seen, oldest first (the last one is `digest()`)."""
        current = self.digest()
        return (*self._closed, current)

    @property
    def lines(self) -> int:
        return self._lines

    # ---- internals -----------------------------------------------------------------------
    def _new_cycle(self, cycle_id: int, first_line: int) -> CycleState:
        return CycleState(cycle_id=cycle_id, first_line=first_line, rank=self._rank,
                          node=self._node, max_candidates=self._max_candidates,
                          truncated=self._truncated)

    def _flush_lines(self) -> None:
        pending = self._pending
        if not pending:
            return
        self._pending = []
        text = "".join(pending)
        if text.count("\n") != len(pending) or not text.endswith("\n"):
            text = "\n".join(line.rstrip("\r\n") for line in pending) + "\n"
        data = text.encode("utf-8", "surrogatepass")
        self._scan(data, len(data))

    def _scan(self, buf: bytes, end: int) -> None:
        if self._elastic is not None:
            self._finish_elastic(self._elastic, buf, end)
        prev, lineno = 0, self._lines
        for start, stop in candidate_spans(buf, end):
            lineno += buf.count(b"\n", prev, start)
            prev = start
            raw = buf[start:min(stop, start + MAX_MATCH_CHARS)].decode("utf-8", "replace")
            self._line(raw, lineno + 1, buf, start, end)
        self._lines += buf.count(b"\n", 0, end)
        tail = buf[max(0, end - _LOOKBACK):end]
        self._carry = (self._carry + tail)[-_LOOKBACK:] if len(tail) < _LOOKBACK else tail

    def _line(self, raw: str, lineno: int, buf: bytes, start: int, end: int) -> None:
        if not any(k in raw for k in KEYWORDS):  # only a progress keyword: the common case
            self._cycle.add_progress(raw, lineno)
            return
        info = parse_line(raw)
        marker = parse_cycle_marker(info.content) if "ycle" in info.content else None
        if marker is not None and marker != self._cycle.cycle_id:
            self._start_cycle(marker, lineno)
            return
        if "Root Cause" in info.content:
            following = buf[start:min(end, start + 4096)].decode("utf-8", "replace")
            lines = following.splitlines()[1:_ELASTIC_LINES + 1]
            if len(lines) < _ELASTIC_LINES and start + 4096 > end:
                self._elastic = (lineno, raw, lines)  # completed by the next block
            else:
                self._cycle.add_elastic_root(lineno, lines, raw)
            return
        self._cycle.add_line(info, raw, lineno, lambda: self._look_back(buf, start))

    def _look_back(self, buf: bytes, start: int) -> float | None:
        """Timestamp of the nearest earlier line that has one (within _LOOKBACK bytes)."""
        before = buf[max(0, start - _LOOKBACK):start]
        if len(before) < _LOOKBACK:
            before = self._carry[len(self._carry) - (_LOOKBACK - len(before)):] + before
        return find_timestamp(before.decode("utf-8", "replace")) if before else None

    def _finish_elastic(self, pending: tuple[int, str, list[str]], buf: bytes, end: int) -> None:
        lineno, header, lines = pending
        self._elastic = None
        more = buf[:min(end, 4096)].decode("utf-8", "replace").splitlines()
        self._cycle.add_elastic_root(lineno, (lines + more)[:_ELASTIC_LINES], header)

    def _start_cycle(self, cycle_id: int, lineno: int) -> None:
        cur = self._cycle
        if cur.from_marker or cur.has_content():
            self._closed.append(cur.to_digest(lineno - 1))
            del self._closed[:-self._max_cycles]
        self._cycle = self._new_cycle(cycle_id, lineno)
        self._cycle.from_marker = True

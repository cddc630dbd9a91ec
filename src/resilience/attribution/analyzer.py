"""The streaming analyzer: feed lines (or byte chunks) as they are written; ask for a digest.

Input is appended to a bounded `Inbox` and scanned in batches: the batch is joined and
searched with the shared keyword prefilter (`scan.candidate_lines`), so the cost of regexes is
paid only for the few lines that mention an error, a cycle marker or progress.

* `feed_line_bytes(line)` / `feed(text)`: one line; every `batch_lines` lines the batch is
  scanned on the caller's thread (`batch_lines=None`: never, a drain does it).
* `feed_bytes(chunk)`: raw bytes that may split lines anywhere; scanned now.
* `queue_bytes(chunk)`: raw bytes, never scanned on the caller's thread: a feeder that must
  not wait hands its chunks over with this and another thread calls `drain()`; the feeder's
  cost is an append per chunk. Past `max_pending` unscanned bytes the oldest are dropped
  (counted), so a drain that falls behind never blocks the feeder nor grows memory. (ftrun's
  pumps feed a separate process instead, `resilience.attribution.pipe`, with `feed_bytes`.)
* `skip(nbytes, nlines)`: output a feeder had to drop, counted as a gap.
* `drain(max_bytes)` / `flush()`: scan some / all of what is pending.

Memory is bounded: the inbox, at most `max_candidates` candidates per role and cycle, and the
last `max_cycles` cycles.

Threads: every method may be called from any thread. `queue_bytes` takes the inbox's short
lock (and the analyzer's, only to first move lines `feed_line_bytes` left pending); scanning
runs under the analyzer's own lock, which `digest()`/`digests()` take too. Chunks of one stream
must come from one thread at a time (their order is the line order).
"""

from __future__ import annotations

import threading
from typing import NamedTuple

from .cycle_state import CycleState
from .inbox import Inbox
from .lines import find_timestamp, parse_line
from .markers import parse_cycle_marker
from .paste import node_lines
from .progress import scan_progress
from .records import elastic_entries
from .registry import MAX_MATCH_CHARS
from .restarts import RestartWatch, merge_attempt
from .scan import candidate_lines

__all__ = ["Analyzer", "NodeDigest"]

from .digest import NodeDigest

_MAX_PARTIAL = 1 << 20  # a "line" longer than this is cut (memory bound)
_LOOKBACK = 1024  # bytes before a candidate searched for a timestamp when it has none
_ELASTIC_LINES = 11  # lines after `Root Cause (first observed failure):` holding its fields
_ELASTIC_BYTES = 4096  # ... read from at most this many bytes from the header on; and bytes
# before it searched for the `Failures:` list of the same summary (kept across blocks)
MAX_PENDING = 64 << 20  # default bound of unscanned input
# a stream without a node of its own (a file, a paste) is read for its section titles and
# the hosts it says have which node rank (`paste.node_lines`) in its first this many bytes: a
# paste is small, and a launcher's own stream knows its node
_PASTE_BYTES = 2 << 20


class _Pending(NamedTuple):
    """torchelastic's `Root Cause` block whose lines are still arriving."""

    line: int
    header: str
    following: bytes = b""


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
        batch_lines: int | None = 4096,
        max_pending: int = MAX_PENDING,
        truncated: bool = False,
        split_restarts: bool = True,
    ) -> None:
        self._rank, self._node = rank, node
        self._max_candidates, self._max_cycles = max_candidates, max_cycles
        self._batch_lines = batch_lines or 0
        self._truncated = truncated
        self._lock = threading.Lock()
        self._inbox = Inbox(max_pending)
        self._lines_in: list[bytes] = []  # feed_line_bytes: appended to, or cut from the front
        self._partial = b""  # an unfinished last line, scanned with the next input
        self._lines = 0  # complete lines scanned (or dropped unscanned) so far
        self._closed: list[NodeDigest] = []
        # torchelastic restarting its workers: a new cycle where its restart line ends
        # (`restarts.py`; off where the launcher numbers the cycles itself: ftrun)
        self._restart = RestartWatch() if split_restarts else None
        self._switch: tuple[int, int] | None = None  # (next cycle, offset in this buffer)
        self._carry = b""  # end of the previous block, for looking back
        self._elastic: _Pending | None = None  # a block ended inside torchelastic's summary
        self._cycle = self._new_cycle(cycle_id, 1)
        self._paste_left = _PASTE_BYTES if node is None else 0

    # ---- input ---------------------------------------------------------------------------
    def feed_line_bytes(self, line: bytes) -> None:
        """One line as read from a pipe (`readline()`), with or without its newline. The fast
        path is a list append (atomic: two threads may feed at once)."""
        lines = self._lines_in
        lines.append(line)
        if len(lines) >= self._batch_lines > 0:
            self.flush(final=False)

    def feed(self, line: str) -> None:
        """One line of text, with or without its trailing newline."""
        self.feed_line_bytes(line.encode("utf-8", "surrogatepass"))

    def feed_bytes(self, data: bytes) -> None:
        """A chunk of raw output, scanned now; a partial last line waits for its end."""
        self.queue_bytes(data)
        self.flush(final=False)

    def queue_bytes(self, data: bytes) -> int:
        """A chunk of raw output, left for `drain()`; returns the bytes now pending."""
        if self._lines_in:  # keep the order of lines fed before
            with self._lock:
                self._collect_lines()
        return self._inbox.put(data)

    def skip(self, nbytes: int, nlines: int) -> None:
        """Output lost before it reached us (a feeder that dropped it): counted in the line
        numbers, and the digest says it saw a window only. Call it between scans (nothing
        pending), before the chunk that follows the gap."""
        self._inbox.skip(nbytes, nlines)

    def drain(self, max_bytes: int) -> int:
        """Scan about `max_bytes` of pending input (whole chunks, at least one); returns the
        bytes still pending. A drain thread calls this in slices so that it never holds the
        GIL for long."""
        with self._lock:
            self._scan_taken(max_bytes)
        return self._inbox.pending_bytes

    def flush(self, final: bool = True) -> None:
        """Scan everything fed so far; `final`: an unterminated last line counts as a line."""
        with self._lock:
            self._scan_taken(None)
            if final:
                self._flush_partial()

    @property
    def pending_bytes(self) -> int:
        return self._inbox.pending_bytes + sum(map(len, self._lines_in[:]))

    # ---- output --------------------------------------------------------------------------
    def digest(self) -> NodeDigest:
        """The digest of the current (last) cycle."""
        with self._lock:
            return self._digests()[-1]

    def digests(self) -> tuple[NodeDigest, ...]:
        """Digests of every cycle seen, oldest first (the last one is `digest()`)."""
        with self._lock:
            return self._digests()

    def _digests(self) -> tuple[NodeDigest, ...]:
        current = self._digest()
        if self._closed and not (self._cycle.from_marker or self._cycle.has_activity()):
            # torchelastic restarted and no attempt followed (a straggler's line, a note)
            return (*self._closed[:-1], merge_attempt(self._closed[-1], current))
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
        self._scan_taken(None)
        self._flush_partial()
        if self._elastic is not None:
            self._elastic_root(self._elastic, self._elastic.following, complete=True)
        return self._cycle.to_digest(self._lines)

    def _flush_partial(self) -> None:
        if self._partial:
            data, self._partial = self._partial + b"\n", b""
            self._scan(data, len(data))

    def _collect_lines(self) -> None:
        """Move the lines of `feed_line_bytes` into the inbox, as one chunk (caller holds the
        lock). Lines appended meanwhile by another thread land after index n and stay."""
        lines = self._lines_in
        n = len(lines)
        if not n:
            return
        batch = lines[:n]
        del lines[:n]
        data = b"".join(batch)
        if data.count(b"\n") != n or not data.endswith(b"\n"):
            data = b"\n".join(line.rstrip(b"\r\n") for line in batch) + b"\n"
        self._inbox.put(data)

    def _scan_taken(self, max_bytes: int | None) -> None:
        """Scan pending input (caller holds the lock); a partial last line is kept."""
        self._collect_lines()
        taken = self._inbox.take(max_bytes)
        if taken is None:
            return
        data = taken.data
        if taken.dropped_bytes:  # the feeder outran the drain: a window is lost
            self._lines += taken.dropped_lines  # the partial line ended in the dropped bytes
            self._partial, self._carry, self._elastic = b"", b"", None
            self._cycle.truncated = True
            if self._restart is not None:
                self._restart.left = 0  # what followed the failure line is lost
        if self._partial:
            data = self._partial + data
        cut = data.rfind(b"\n") + 1
        self._partial = data[cut:]
        if len(self._partial) > _MAX_PARTIAL:
            data, cut, self._partial = data + b"\n", len(data) + 1, b""
        if cut:
            self._scan(data, cut)

    def _scan(self, buf: bytes, end: int) -> None:
        if self._elastic is not None:
            self._finish_elastic(self._elastic, buf, end)
        if self._restart is not None and self._restart.left:
            self._watch_restart(buf, 0, end)
        pos, lineno = 0, self._lines  # lineno: lines before `pos`
        for start, stop in candidate_lines(buf, end):  # lines with an error keyword
            lineno = self._stretch(buf, pos, start, lineno)
            raw = buf[start:min(stop, start + MAX_MATCH_CHARS)].decode("utf-8", "replace")
            lineno += 1
            self._line(raw, lineno, buf, start, end)
            pos = stop + 1
        lineno = self._stretch(buf, pos, end, lineno)
        self._lines = lineno
        tail = buf[max(0, end - _ELASTIC_BYTES):end]
        self._carry = ((self._carry + tail)[-_ELASTIC_BYTES:] if len(tail) < _ELASTIC_BYTES
                       else tail)

    def _stretch(self, buf: bytes, a: int, b: int, lineno: int) -> int:
        """Progress in the lines of buf[a:b] (no error keyword there; `lineno` lines come
        before `a`), switching to torchelastic's next attempt where its restart line ends;
        the lines before `b`."""
        switch = self._switch
        if switch is not None and switch[1] <= b:
            at = max(a, switch[1])
            if at > a:
                self._progress(buf, a, at, lineno)
                lineno += buf.count(b"\n", a, at)
            self._switch, a = None, at
            if switch[0] != self._cycle.cycle_id:
                self._start_cycle(switch[0], lineno + 1, ours=False)
        if b > a:
            self._progress(buf, a, b, lineno)
            lineno += buf.count(b"\n", a, b)
        return lineno

    def _progress(self, buf: bytes, a: int, b: int, lineno: int) -> None:
        """Progress in the lines of buf[a:b], which hold no error keyword; `lineno` lines
        come before `a`."""
        found = scan_progress(buf, a, b, self._cycle.last_step)
        if found is not None:
            self._cycle.add_stretch(found, lambda at: lineno + buf.count(b"\n", a, at) + 1,
                                    lambda at: _time_at(buf, at))
        if self._paste_left > 0:
            self._paste_left -= b - a
            for _, text in node_lines(buf, a, b):
                self._cycle.paste_line(text)

    def _line(self, raw: str, lineno: int, buf: bytes, start: int, end: int) -> None:
        info = parse_line(raw)
        marker = parse_cycle_marker(info.content) if "ycle" in info.content else None
        if marker is not None and marker != self._cycle.cycle_id:
            self._start_cycle(marker, lineno)
            return
        if "Root Cause" in info.content:
            if not self._cycle.wants("root_cause"):
                return  # enough of them kept: no look-back, no parse (bounded work)
            if self._elastic is not None:  # the block before ended above this header
                self._elastic_root(self._elastic, self._elastic.following, complete=True)
            self._failures(lineno, self._before(buf, start, _ELASTIC_BYTES))
            self._elastic_root(_Pending(lineno, raw), buf[start:min(end, start + _ELASTIC_BYTES)],
                               complete=start + _ELASTIC_BYTES <= end)
            return
        self._cycle.add_line(info, raw, lineno, lambda: self._look_back(buf, start),
                             lambda: self._before(buf, start, 512))
        if self._restart is not None and "failed (exitcode" in info.content:
            self._restart.start()  # the agent may restart its workers
            stop = buf.find(b"\n", start, end)
            self._watch_restart(buf, stop + 1 if stop >= 0 else end, end)

    def _watch_restart(self, buf: bytes, at: int, end: int) -> None:
        """Where torchelastic's restart line ends, if it is in the lines of buf[at:end] still
        watched: the scan switches cycles there (`_stretch`)."""
        if self._restart is not None and (found := self._restart.look(buf, at, end)):
            self._switch = found

    def _look_back(self, buf: bytes, start: int) -> float | None:
        """Timestamp of the nearest earlier line that has one (within _LOOKBACK bytes)."""
        before = self._before(buf, start, _LOOKBACK)
        return find_timestamp(before.decode("utf-8", "replace")) if before else None

    def _before(self, buf: bytes, start: int, size: int) -> bytes:
        """Up to `size` bytes of input before `buf[start]`, from earlier blocks too."""
        before = buf[max(0, start - size):start]
        if len(before) < size:
            before = self._carry[max(0, len(self._carry) - size + len(before)):] + before
        return before

    def _failures(self, lineno: int, before: bytes) -> None:
        """The `Failures:` list of the summary whose `Root Cause` header is at `lineno`: it
        comes just before (the header is not a prefilter keyword; looking back costs
        nothing per line)."""
        at = before.rfind(b"Failures:")
        if at < 0 or b"Root Cause" in before[at:]:
            return
        head = before.rfind(b"\n", 0, at) + 1
        block = before[head:].decode("utf-8", "replace").splitlines()
        if not block or not parse_line(block[0]).content.startswith("Failures:"):
            return
        self._cycle.add_records(
            elastic_entries(lineno - len(block), block[1:], block[0], "failure"))

    def _elastic_root(self, head: _Pending, following: bytes, complete: bool) -> None:
        """torchelastic's block: `following` holds the bytes from its header line on."""
        lines = following.decode("utf-8", "replace").splitlines()[1:_ELASTIC_LINES + 1]
        if len(lines) < _ELASTIC_LINES and not complete:
            self._elastic = head._replace(following=following)  # completed by the next block(s)
        else:
            self._elastic = None
            self._cycle.add_records(elastic_entries(head.line, lines, head.header, "root_cause"))

    def _finish_elastic(self, pending: _Pending, buf: bytes, end: int) -> None:
        more = buf[:min(end, _ELASTIC_BYTES - len(pending.following))]
        self._elastic_root(pending, pending.following + more,
                           complete=len(pending.following) + end >= _ELASTIC_BYTES)

    def _start_cycle(self, cycle_id: int, lineno: int, ours: bool = True) -> None:
        """Start cycle `cycle_id` at line `lineno`: at a cycle marker (`ours`), or after
        torchelastic's restart of its workers (not `ours`: if it shows no attempt of its own,
        `_digests` folds it back into the cycle before)."""
        cur = self._cycle
        if cur.from_marker or cur.has_content():
            self._closed.append(cur.to_digest(lineno - 1))
            del self._closed[:-self._max_cycles]
        self._cycle = self._new_cycle(cycle_id, lineno)
        self._cycle.from_marker = ours
        self._cycle.carry_paste(cur)


def _time_at(buf: bytes, at: int) -> float | None:
    """The timestamp on the line of `buf` that starts at `at` (at most 4 KiB of it)."""
    stop = buf.find(b"\n", at, at + 4096)
    return find_timestamp(buf[at:stop if stop >= 0 else at + 4096].decode("utf-8", "replace"))

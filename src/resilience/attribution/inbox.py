"""Bytes fed to an `Analyzer` and not yet scanned.

Feeders (the launcher's pump threads) append; the scanner (a drain thread, or the feeder
itself) takes. Appending never waits for a scan: the inbox has its own short lock, held only
to move references. It is bounded: past `limit` bytes the oldest chunks are dropped, so a
scanner that falls behind costs at most `limit` bytes of memory and never slows the feeder;
the lines dropped are counted, so line numbers stay true, and the analysis says it saw a
window only.
"""

from __future__ import annotations

import threading
from collections import deque

__all__ = ["Inbox", "Taken"]


class Taken:
    """What `Inbox.take` hands the scanner: the data, and what was dropped before it."""

    __slots__ = ("data", "dropped_bytes", "dropped_lines")

    def __init__(self, data: bytes, dropped_bytes: int, dropped_lines: int) -> None:
        self.data = data
        self.dropped_bytes = dropped_bytes
        self.dropped_lines = dropped_lines


class Inbox:
    def __init__(self, limit: int) -> None:
        self._limit = limit
        self._lock = threading.Lock()
        self._chunks: deque[bytes] = deque()
        self._bytes = 0
        self._dropped_bytes = 0
        self._dropped_lines = 0

    def put(self, data: bytes) -> int:
        """Append `data`; returns the bytes pending after it."""
        with self._lock:
            chunks = self._chunks
            chunks.append(data)
            self._bytes += len(data)
            while self._bytes > self._limit and len(chunks) > 1:
                old = chunks.popleft()
                self._bytes -= len(old)
                self._dropped_bytes += len(old)
                self._dropped_lines += old.count(b"\n")
            return self._bytes

    def skip(self, nbytes: int, nlines: int) -> None:
        """Output dropped before it got here (`nlines` lines in `nbytes` bytes): reported with
        the next `take`, as a gap before its data (so call it when nothing is pending)."""
        with self._lock:
            self._dropped_bytes += nbytes
            self._dropped_lines += nlines

    def take(self, max_bytes: int | None = None) -> Taken | None:
        """The oldest pending bytes, joined: all of them, or whole chunks up to `max_bytes`,
        or the head of a bigger first chunk (cut after its last newline within `max_bytes`).
        None when nothing is pending and nothing was dropped."""
        with self._lock:
            chunks = self._chunks
            if not chunks and not self._dropped_bytes:
                return None
            if max_bytes is None or self._bytes <= max_bytes:
                batch = list(chunks)
                chunks.clear()
            else:
                batch, size = [], 0
                while chunks and size + len(chunks[0]) <= max_bytes:
                    size += len(chunks[0])
                    batch.append(chunks.popleft())
                if not batch:  # a big chunk: its head, cut after a newline if there is one
                    big = chunks[0]
                    cut = big.rfind(b"\n", 0, max_bytes) + 1 or max_bytes
                    batch.append(big[:cut])
                    chunks[0] = big[cut:]
            self._bytes -= sum(map(len, batch))
            taken = Taken(b"".join(batch), self._dropped_bytes, self._dropped_lines)
            self._dropped_bytes = self._dropped_lines = 0
            return taken

    @property
    def pending_bytes(self) -> int:
        return self._bytes

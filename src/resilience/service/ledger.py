"""The processed-files ledger: which (path, cycle) was analysed, at what mtime/size, and its
verdict.

Format: an append-only JSONL journal, one ``LedgerEntry`` per line, each append followed by
``fsync``, so a SIGKILL loses at most the line being written. On load, lines that do not parse
(a torn last line, a record of another version) are skipped and later lines win; the journal is
then compacted (temp file + fsync + rename + directory fsync) so it never ends in a torn line
and never grows past about twice ``max_entries``.

An entry is trusted as is during ``grace`` seconds after it was recorded (agents of one job
trigger the same cycle while the dying job is still flushing its logs: one analysis, not one
per trigger); after that it is re-validated against ``stat()`` and is stale if mtime or size
changed. Entries older than ``max_age`` or beyond ``max_entries`` (oldest first) are evicted.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

__all__ = ["Ledger", "LedgerEntry"]

log = logging.getLogger("resilience.service.ledger")

Key = tuple[str, int | None]


class LedgerEntry(BaseModel):
    """One analysed (path, cycle) and the verdict JSON."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    v: Literal[1] = 1
    path: str
    cycle: int | None
    mtime_ns: int
    size: int
    recorded: float
    verdict: dict[str, Any]

    @property
    def key(self) -> Key:
        return (self.path, self.cycle)


class Ledger:
    """In-memory index over an optional on-disk journal. Thread-safe."""

    def __init__(
        self,
        path: Path | None,
        *,
        max_entries: int,
        max_age: float,
        grace: float,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self._path = path
        self._max_entries = max_entries
        self._max_age = max_age
        self._grace = grace
        self._clock = clock
        self._entries: OrderedDict[Key, LedgerEntry] = OrderedDict()
        self._lock = threading.Lock()
        self._lines = 0
        self.skipped_on_load = 0
        if path is not None:
            self._load(path)
            self._compact()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)

    def lookup(self, path: str, cycle: int | None, mtime_ns: int, size: int) -> LedgerEntry | None:
        """The entry for (path, cycle) if still valid for a file with this mtime and size."""
        now = self._clock()
        with self._lock:
            entry = self._entries.get((path, cycle))
            if entry is None:
                return None
            if now - entry.recorded > self._max_age:
                del self._entries[entry.key]
                return None
            if now - entry.recorded <= self._grace:
                return entry
            return entry if (entry.mtime_ns, entry.size) == (mtime_ns, size) else None

    def record(self, path: str, cycle: int | None, mtime_ns: int, size: int,
               verdict: dict[str, Any]) -> LedgerEntry:
        """Remember a verdict (and append it to the journal, durably)."""
        entry = LedgerEntry(path=path, cycle=cycle, mtime_ns=mtime_ns, size=size,
                            recorded=self._clock(), verdict=verdict)
        with self._lock:
            self._put(entry)
            self._evict()
            if self._path is not None:
                self._journal(self._path, entry)
        return entry

    def _journal(self, path: Path, entry: LedgerEntry) -> None:
        try:
            self._append(path, entry)
            if self._lines > 2 * self._max_entries + 16:
                self._rewrite(path, self._entries.values())
        except OSError as exc:  # disk full, file removed, ...: keep serving from memory
            log.error("ledger %s: cannot write (%s); the verdict is kept in memory only",
                      path, exc)

    # -- journal -------------------------------------------------------------------------

    def _put(self, entry: LedgerEntry) -> None:
        self._entries[entry.key] = entry
        self._entries.move_to_end(entry.key)

    def _evict(self) -> None:
        horizon = self._clock() - self._max_age
        for key in [k for k, e in self._entries.items() if e.recorded < horizon]:
            del self._entries[key]
        while len(self._entries) > self._max_entries:
            self._entries.popitem(last=False)

    def _load(self, path: Path) -> None:
        try:
            data = path.read_bytes()
        except FileNotFoundError:
            return
        for line in data.splitlines():
            try:
                self._put(LedgerEntry.model_validate_json(line))
            except ValidationError:
                self.skipped_on_load += 1
        self._evict()
        if self.skipped_on_load:
            log.warning("ledger %s: skipped %d unreadable line(s)", path, self.skipped_on_load)

    def _compact(self) -> None:
        assert self._path is not None
        with self._lock:
            self._rewrite(self._path, self._entries.values())

    def _append(self, path: Path, entry: LedgerEntry) -> None:
        line = entry.model_dump_json().encode() + b"\n"
        fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        try:
            os.write(fd, line)
            os.fsync(fd)
        finally:
            os.close(fd)
        self._lines += 1

    def _rewrite(self, path: Path, entries: Iterable[LedgerEntry]) -> None:
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        body = b"".join(e.model_dump_json().encode() + b"\n" for e in entries)
        with open(tmp, "wb") as fh:
            fh.write(body)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
        self._lines = body.count(b"\n")

"""Streaming attribution on the agent: worker output is analysed as it is written, so the
node's digests are ready the moment a worker dies.

The scan runs in a process of its own (`resilience.attribution.pipe`), started once per
``ftrun``; the pumps write their chunks to its stdin, and at failure time `digests_json()`
asks it for the digests. The launcher's part per chunk is one non-blocking write: the scan
never competes with the pumps for the launcher's GIL or CPU time. (Measured with
bench/tee_overhead.py, Megatron lines written flat out: a drain thread in the launcher cost the
worker +20-25 %, even standing back whenever a pump found its pipe nearly full; the pump alone
writing to a pipe costs about +5 %.)

A pump never waits for the analysis: when the pipe to it is full (it is behind), chunks wait
in a queue of at most `MAX_QUEUED` bytes, oldest dropped first and counted, so the analysis
knows it saw a window only. `digests_json()` sends what is queued (waiting, with a deadline),
so the answer covers everything the workers wrote before it.

One analyser per (rank, stream): stdout and stderr are pumped by two threads, so their lines
reach us in no reliable order across streams. Within one stream the order is the worker's own;
the engine's "error followed by progress is stale" rule must only see that order (fed across
streams, a traceback could arrive before the step lines printed just before it, and the STOP
would turn into RESTART). A pump is bound to its cycle when it starts (`bind`), so a pump
that outlives its cycle never feeds the next one's analysers.

If the analysis process dies or does not answer within `ANSWER_TIMEOUT`, that is said once on
stderr and the failure record goes without digests (the leader's verdict then rests on the
other nodes, or on its safe default); the next cycle starts a fresh process.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import select
import subprocess
import sys
import threading
import time
from collections import deque

from resilience.agent.logs import LineHook
from resilience.attribution.pipe import CYCLE, DATA, DIGEST, HEADER, REPLY

__all__ = ["ANSWER_TIMEOUT", "MAX_QUEUED", "NodeAnalysis"]

MAX_QUEUED = 4 << 20  # bytes waiting for a full pipe at most; older chunks are dropped
PIPE_SIZE = 1 << 20  # asked for the pipe to the analysis (Linux; best effort)
ANSWER_TIMEOUT = 5.0  # s for the analysis to take what is queued and answer with the digests
_Key = tuple[int, bool]  # (rank, stderr)


class NodeAnalysis:
    def __init__(self, host: str) -> None:
        self._host = host
        self._lock = threading.Lock()  # the pipe's write side: frames must not interleave
        self._ask = threading.Lock()  # one request-answer at a time
        self._proc: subprocess.Popen[bytes] | None = None
        self._cycle = -1
        self._ranks: frozenset[int] = frozenset()
        self._rest = b""  # the unwritten end of a frame the pipe took only part of
        self._queue: deque[tuple[_Key, bytes]] = deque()
        self._queued = 0
        self._dropped: dict[_Key, tuple[int, int]] = {}  # bytes, lines dropped before the next
        self._down = ""  # why the current process cannot be used ("" while it can)

    # ---- life ----------------------------------------------------------------------------
    def start(self) -> None:
        """Start the analysis process (its imports overlap with the rendezvous)."""
        with self._lock:
            self._spawn()

    def close(self) -> None:
        """Close its stdin and wait for it to exit (it is killed after 5 s)."""
        with self._lock:
            self._stop()

    @property
    def pid(self) -> int:
        """The analysis process's pid (-1 when none runs)."""
        return self._proc.pid if self._proc is not None else -1

    def _forget_queued(self) -> None:
        self._queue.clear()
        self._queued = 0
        self._dropped.clear()

    def _spawn(self) -> None:
        self._rest, self._down = b"", ""
        self._forget_queued()
        try:
            self._proc = subprocess.Popen(
                [sys.executable, "-m", "resilience.attribution.pipe", self._host,
                 str(os.getpid())],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE)
        except OSError as exc:  # out of processes or memory: the job runs on without
            self._fail(f"could not start ({exc.strerror})")
            return
        assert self._proc.stdin is not None
        fd = self._proc.stdin.fileno()
        with contextlib.suppress(OSError, AttributeError):
            fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, PIPE_SIZE)
        os.set_blocking(fd, False)

    def _stop(self) -> None:
        proc, self._proc = self._proc, None
        self._down = self._down or "closed"  # a pump that outlives close() feeds nothing
        if proc is None:
            return
        for stream in (proc.stdin, proc.stdout):
            if stream is not None:
                with contextlib.suppress(OSError):
                    stream.close()
        try:
            proc.wait(timeout=5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()

    def _fail(self, why: str) -> None:
        """The process cannot be used for the rest of this cycle (caller holds the lock): say
        so once, and kill it."""
        if not self._down:
            self._down = why
            sys.stderr.write(f"[resilience] warning: log analysis {why}; failure records go "
                             "without digests until the next cycle starts a new one\n")
        if self._proc is not None:
            with contextlib.suppress(OSError):
                self._proc.kill()

    # ---- input ---------------------------------------------------------------------------
    def start_cycle(self, cycle: int, ranks: range) -> None:
        with self._lock:
            if self._proc is None or self._down:
                self._stop()
                self._spawn()
            self._cycle, self._ranks = cycle, frozenset(ranks)
            self._forget_queued()  # the last cycle's output: its digests were taken or are moot
            self._send_all(CYCLE, cycle, json.dumps(list(ranks)).encode(),
                           deadline=time.monotonic() + ANSWER_TIMEOUT)

    def bind(self, rank: int) -> LineHook | None:
        """The hook for the pumps of `rank`'s worker in the current cycle."""
        with self._lock:
            if rank not in self._ranks:
                return None
            cycle = self._cycle

        def hook(_rank: int, is_err: bool, data: bytes) -> None:
            with self._lock:
                if cycle == self._cycle and not self._down:
                    self._put((rank, is_err), data)

        return hook

    def _put(self, key: _Key, data: bytes) -> None:
        """Write a chunk now if the pipe takes it, or queue it (caller holds the lock)."""
        if self._flush() and self._write(key, data):
            return
        self._queue.append((key, data))
        self._queued += len(data)
        while self._queued > MAX_QUEUED:
            old_key, old = self._queue.popleft()
            self._queued -= len(old)
            nbytes, nlines = self._dropped.get(old_key, (0, 0))
            self._dropped[old_key] = (nbytes + len(old), nlines + old.count(b"\n"))

    def _flush(self) -> bool:
        """Write what waits, in order, as far as the pipe takes it; True if nothing waits."""
        if self._rest and not self._write_rest():
            return False
        while self._queue:
            key, data = self._queue[0]
            if not self._write(key, data):
                return False
            self._queue.popleft()
            self._queued -= len(data)
        return not self._rest  # the last frame may have gone in part

    def _write(self, key: _Key, data: bytes) -> bool:
        """One DATA frame, without blocking. False if the pipe took none of it; a part taken
        leaves the rest in `_rest` (written before anything else) and counts as written."""
        if self._rest:
            return False
        nbytes, nlines = self._dropped.get(key, (0, 0))
        head = HEADER.pack(DATA, key[1], key[0], len(data), nbytes, nlines)
        try:
            n = os.writev(self._fd(), (head, data))
        except BlockingIOError:
            return False
        except OSError as exc:  # the process died: EPIPE
            self._fail(f"stopped ({exc.strerror})")
            return True
        self._dropped.pop(key, None)
        if n < len(head) + len(data):
            self._rest = (head + data)[n:]
        return True

    def _write_rest(self) -> bool:
        try:
            n = os.write(self._fd(), self._rest)
        except BlockingIOError:
            return False
        except OSError as exc:
            self._fail(f"stopped ({exc.strerror})")
            self._rest = b""
            return True
        self._rest = self._rest[n:]
        return not self._rest

    def _send_all(self, kind: int, number: int, payload: bytes, deadline: float) -> bool:
        """Flush what waits and write one more frame (`number` in the rank field), waiting
        for the pipe up to `deadline` (caller holds the lock). False if the process is down or
        did not take it in time."""
        frame_sent = False
        while not self._down:
            if self._flush():
                if frame_sent:
                    return True
                head = HEADER.pack(kind, 0, number, len(payload), 0, 0)
                self._rest, frame_sent = head + payload, True
                continue
            if not _ready(self._fd(), select.POLLOUT, deadline):
                self._fail(f"took no input for {ANSWER_TIMEOUT:.0f} s")
        return False

    def _fd(self) -> int:
        assert self._proc is not None and self._proc.stdin is not None
        return self._proc.stdin.fileno()

    # ---- output --------------------------------------------------------------------------
    def digests_json(self) -> list[str]:
        """The digests of the current cycle's streams, covering all output pumped so far."""
        with self._ask:
            deadline = time.monotonic() + ANSWER_TIMEOUT
            with self._lock:
                for key in self._dropped:  # a gap at a stream's end: an empty chunk reports it
                    self._queue.append((key, b""))
                if self._proc is None or not self._send_all(DIGEST, 0, b"", deadline):
                    return []
                assert self._proc.stdout is not None
                out = self._proc.stdout.fileno()
            head = _read(out, REPLY.size, deadline)
            body = _read(out, REPLY.unpack(head)[0], deadline) if head is not None else None
            if body is None:
                with self._lock:
                    self._fail(f"gave no digests within {ANSWER_TIMEOUT:.0f} s")
                return []
            # "\n" only: a digest's JSON may hold U+2028 and the like, which splitlines() cuts
            return body.decode().split("\n") if body else []


def _read(fd: int, n: int, deadline: float) -> bytes | None:
    """Exactly `n` bytes from `fd` by `deadline`; None at its end or past the deadline."""
    parts: list[bytes] = []
    while n:
        if not _ready(fd, select.POLLIN, deadline):
            return None
        part = os.read(fd, n)
        if not part:
            return None
        parts.append(part)
        n -= len(part)
    return b"".join(parts)


def _ready(fd: int, event: int, deadline: float) -> bool:
    """Whether `fd` is ready for `event` (or hung up) before `deadline` (poll: any fd number)."""
    left = deadline - time.monotonic()
    if left <= 0:
        return False
    poller = select.poll()
    poller.register(fd, event)
    return bool(poller.poll(left * 1000))

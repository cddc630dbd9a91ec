"""Worker output: per-rank log file, prefixed console tee, and a hook for the analysis.

One pump thread per worker stream. It reads whatever the pipe holds (up to 1 MiB) and hands
the complete lines on as one chunk: one write to the rank's log file, one to the console with
``[rank<r>]:`` before every line (like ``torchrun --tee``), one call of the hook; then it
sleeps 2 ms so that the next read finds a batch. A worker that logs slowly gets its lines 2 ms
later at most; one that logs in bursts has them moved in bulk, so the pump costs little CPU
per line and does not become the worker's bottleneck. The pipe is
enlarged to 256 KiB where the kernel allows it, so a short stall of the launcher (a scan, the
GIL) does not block a worker's print. An unfinished line is held back until its newline, so
lines of stdout and stderr never mix inside the log file; past 64 KiB it is written as is.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["ConsoleSink", "LineHook", "LogPump", "coalesce_pause"]

# (rank, from stderr, data): data is one or more complete lines (or a cut over-long one)
LineHook = Callable[[int, bool, bytes], None]

_CHUNK = 1 << 20  # bytes per read at most: a busy pump empties the whole pipe at once
_MAX_HELD = 1 << 16  # an unfinished line longer than this is passed on without its end
_COALESCE = 0.002  # s to let output gather after a read, so a busy worker's lines come in
# bulk (one wake-up of the pump per ~2 ms instead of one per line); torchrun's tee polls its
# files every 100 ms
# 4x the default pipe: a 2 ms pump pause never blocks a worker's print. Not the 1 MiB
# maximum: pipe memory counts against the user's pipe-user-pages-soft (64 MiB), and past it
# every new pipe of the user (the workers' DataLoader pipes too) shrinks to 8 KiB.
_PIPE_SIZE = 1 << 18


def coalesce_pause(got: int, elapsed: float, pipe_size: int) -> float:
    """Seconds to let output gather before the next read, after a read of `got` bytes that
    came `elapsed` s after the one before: `_COALESCE` for a slow writer; for a fast one, the
    time its rate takes to fill half the pipe, so that it never blocks on a full pipe (a read
    of a full pipe undercounts the rate: the pause halves until the pipe stops filling). 0
    below 0.1 ms: read again at once."""
    half = pipe_size / 2
    if got * _COALESCE <= half * elapsed:
        return _COALESCE
    pause = half * elapsed / got
    return pause if pause >= 1e-4 else 0.0


class ConsoleSink:
    """Serialises writes of many pumps to the launcher's stdout / stderr."""

    def __init__(self, out: BinaryIO | None = None, err: BinaryIO | None = None) -> None:
        self._out = out or sys.stdout.buffer
        self._err = err or sys.stderr.buffer
        self._lock = threading.Lock()

    def write(self, stderr: bool, data: bytes) -> None:
        stream = self._err if stderr else self._out
        with self._lock:
            try:
                stream.write(data)
                stream.flush()
            except (OSError, ValueError):
                pass  # a closed console must never take the launcher down


class LogPump:
    def __init__(
        self,
        proc: subprocess.Popen[bytes],
        rank: int,
        log_path: Path,
        console: ConsoleSink,
        console_stdout: bool,
        console_stderr: bool,
        hook: LineHook | None,
    ) -> None:
        self._file = open(log_path, "ab")  # noqa: SIM115 - closed by the last pump thread
        self._file_ok = True
        self._log_path = log_path
        self._file_lock = threading.Lock()
        self._prefix = f"[rank{rank}]:".encode()
        self._newline_prefix = b"\n" + self._prefix
        self._rank = rank
        self._console = console
        self._hook = hook
        self._open = 2
        self._threads = [
            threading.Thread(
                target=self._pump, args=(proc.stdout, False, console_stdout), daemon=True
            ),
            threading.Thread(
                target=self._pump, args=(proc.stderr, True, console_stderr), daemon=True
            ),
        ]

    def start(self) -> None:
        for t in self._threads:
            t.start()

    def join(self, timeout: float) -> None:
        for t in self._threads:
            t.join(timeout)

    def _pump(self, stream: BinaryIO | None, is_err: bool, to_console: bool) -> None:
        if stream is None:
            return
        fd = stream.fileno()
        size = 1 << 16  # Linux's default pipe
        with contextlib.suppress(OSError, AttributeError):  # best effort: Linux, within limits
            size = fcntl.fcntl(fd, fcntl.F_GETPIPE_SZ)
            size = fcntl.fcntl(fd, fcntl.F_SETPIPE_SZ, _PIPE_SIZE)
        read, held, at_line_start, clock = os.read, b"", True, time.monotonic
        last = clock()
        try:
            while data := read(fd, _CHUNK):
                now = clock()
                pause = coalesce_pause(len(data), now - last, size)
                last = now
                if held:
                    data = held + data
                cut = data.rfind(b"\n") + 1
                if cut < len(data) and len(data) - cut <= _MAX_HELD:
                    data, held = data[:cut], data[cut:]
                else:
                    held = b""
                if data:
                    at_line_start = self._emit(data, is_err, to_console, at_line_start)
                if pause:
                    time.sleep(pause)
            if held:
                self._emit(held, is_err, to_console, at_line_start)
        except OSError:
            pass  # the pipe broke: the worker is gone, its exit code tells why
        finally:
            stream.close()
            with self._file_lock, contextlib.suppress(OSError):  # a full disk: reported
                self._open -= 1
                if self._open == 0:
                    self._file.close()

    def _emit(self, data: bytes, is_err: bool, to_console: bool, at_line_start: bool) -> bool:
        """Write `data` (lines) to the log file, the console and the hook; returns whether the
        next byte starts a line. A failing file or hook is reported once and left out; the
        pump goes on draining the pipe, or the worker would block on its next print."""
        with self._file_lock:
            if self._file_ok:
                try:
                    self._file.write(data)
                    self._file.flush()
                except (OSError, ValueError) as exc:
                    self._file_ok = False
                    self._warn(f"cannot write {self._log_path}: "
                               f"{getattr(exc, 'strerror', None) or exc}; rank {self._rank}'s "
                               "output goes to the console only from here")
        ends_line = data.endswith(b"\n")
        if to_console:
            text = data.replace(b"\n", self._newline_prefix)
            if ends_line:  # the prefix after the last newline belongs to the next line
                text = text[:-len(self._prefix)]
            self._console.write(is_err, self._prefix + text if at_line_start else text)
        hook = self._hook  # read once: the other stream's thread may clear it
        if hook is not None:
            try:
                hook(self._rank, is_err, data)
            except Exception as exc:  # a bug in the analysis must not stop the logs
                with self._file_lock:
                    first, self._hook = self._hook is not None, None
                if first:
                    self._warn(f"log analysis of rank {self._rank} stopped ({exc!r}); its "
                               "output is still logged, the verdict will not see it")
        return ends_line

    def _warn(self, message: str) -> None:
        self._console.write(True, f"[resilience] warning: {message}\n".encode())

"""Worker output: per-rank log file, prefixed console tee, and a per-line hook.

One pump thread per worker stream. Lines are handled as bytes end to end; the console gets
``[rank<r>]:`` prefixes like ``torchrun --tee``.
"""

from __future__ import annotations

import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = ["ConsoleSink", "LineHook", "LogPump"]

LineHook = Callable[[int, bool, bytes], None]  # (rank, from stderr, line)


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
        self._file_lock = threading.Lock()
        self._prefix = f"[rank{rank}]:".encode()
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
        try:
            for line in iter(stream.readline, b""):
                with self._file_lock:
                    self._file.write(line)
                    self._file.flush()
                if to_console:
                    self._console.write(is_err, self._prefix + line)
                if self._hook is not None:
                    self._hook(self._rank, is_err, line)
        finally:
            stream.close()
            with self._file_lock:
                self._open -= 1
                if self._open == 0:
                    self._file.close()

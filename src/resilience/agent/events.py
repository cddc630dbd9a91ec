"""The agent's event log: one JSON line per event in a file, one readable line on the console."""

from __future__ import annotations

import json
import sys
import threading
import time
from pathlib import Path
from typing import TextIO

__all__ = ["EventLog"]


class EventLog:
    def __init__(self, path: Path, node_id: str, console: TextIO | None = None) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self._node = node_id
        self._file = open(path, "a")  # noqa: SIM115 - closed by close()
        self._console = console if console is not None else sys.stderr
        self._lock = threading.Lock()

    def emit(self, event: str, message: str, **fields: object) -> None:
        record = {
            "ts": time.time(),
            "mono": time.monotonic(),
            "event": event,
            "node": self._node,
            "message": message,
            **fields,
        }
        line = json.dumps(record, default=str)
        with self._lock:
            self._file.write(line + "\n")
            self._file.flush()
            try:
                self._console.write(f"[resilience] {message}\n")
                self._console.flush()
            except (OSError, ValueError):
                pass

    def close(self) -> None:
        with self._lock:
            self._file.close()

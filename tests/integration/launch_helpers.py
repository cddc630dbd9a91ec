"""Helpers for tests that run real `ftrun` processes with real gloo workers.

A module of its own (not conftest) because every test folder has a conftest and
`from conftest import ...` would pick whichever was imported first.
"""

from __future__ import annotations

import contextlib
import json
import socket
import sys
import time
from collections.abc import Callable
from pathlib import Path

SCRIPTS = Path(__file__).parent / "scripts"
TRAIN = SCRIPTS / "train.py"
FTRUN = [sys.executable, "-m", "resilience.run"]


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout}s waiting for {what}")
        time.sleep(0.05)


def alive(pid: int) -> bool:
    """True while the process exists and is not a zombie."""
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError):
        return False


def children(pid: int) -> list[int]:
    """The live children of `pid` (all its threads'), from /proc."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(FileNotFoundError):  # a thread that just ended
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def read_pids(pid_dir: Path) -> list[int]:
    return [int(p.read_text()) for p in pid_dir.glob("*.pid") if p.read_text()]


def events(log_dir: Path) -> list[dict[str, object]]:
    out: list[dict[str, object]] = []
    for path in sorted(log_dir.rglob("events_*.jsonl")):
        out += [json.loads(line) for line in path.read_text().splitlines()]
    return out


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])

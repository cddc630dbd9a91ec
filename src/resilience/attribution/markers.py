"""Cycle markers and progress lines.

The launcher prints `cycle_marker(c)` (e.g. ``[resilience] cycle 3 started``) when it starts
cycle c, so one file holding several restarts can be split per cycle. The common ``Cycle: N``
marker of other launchers is understood too, and torchelastic's own restarts
(`elastic_restart`). Progress = an iteration/step number or a saved
checkpoint (`progress`); it feeds the repeated-root rule.
"""

from __future__ import annotations

import re
from typing import Final

from .progress import CHECKPOINT_RE, line_steps

__all__ = [
    "CHECKPOINT_RE",
    "CYCLE_MARKER",
    "CYCLE_MARKER_RE",
    "RestartWatch",
    "cycle_marker",
    "parse_cycle_marker",
    "parse_progress",
]

CYCLE_MARKER: Final = "[resilience] cycle {cycle_id} started"
# Our marker anywhere in the line (it may carry a log prefix), or the common `Cycle: N`.
CYCLE_MARKER_RE: Final = re.compile(
    r"\[resilience\] cycle (?P<ours>\d{1,9}) started|(?<![\w-])Cycle: ?(?P<common>\d{1,9})\b"
)


# torchelastic restarting its worker group (`--max-restarts`): `[default] Worker group FAILED.
# 2/3 attempts left; will restart worker group`, printed right after (within 3 lines of) its
# `failed (exitcode: 1) local_rank: ...` line. Attempt 0 is cycle 0, so the next attempt is
# cycle max_restarts - left + 1.
_ELASTIC_RESTART = re.compile(
    rb"Worker group FAILED\. (\d{1,6})/(\d{1,6}) attempts left; will restart worker group")
_RESTART_LINES = 3


class RestartWatch:
    """Watches the lines after a torchelastic agent's `failed (exitcode` line for its restart
    line, across the buffers a stream is scanned in (so the cycles of a log do not depend on
    where its chunks end)."""

    def __init__(self) -> None:
        self.left = 0  # lines still to look at
        self.line = 0  # number of the last line looked at

    def start(self, lineno: int) -> None:
        """The agent's failure line is line `lineno`."""
        self.left, self.line = _RESTART_LINES, lineno

    def look(self, buf: bytes, at: int, end: int) -> tuple[int, int] | None:
        """(cycle id of the next attempt, its first line) if the lines of `buf[at:end]` (whole
        lines that follow the last line looked at) hold the restart line; else None, and what
        is left to look at waits for the next buffer."""
        if not self.left:
            return None
        cap = min(end, at + 4096)
        parts = buf[at:cap].split(b"\n", self.left)
        whole = parts[:self.left] if len(parts) > self.left else parts[:-1]
        for i, line in enumerate(whole):
            if (m := _ELASTIC_RESTART.search(line)) is not None:
                self.left = 0
                left, total = int(m.group(1)), int(m.group(2))
                return (total - left + 1, self.line + i + 2) if left <= total else None
        self.left = 0 if cap < end else self.left - len(whole)  # a huge line: give up
        self.line += len(whole)
        return None


def cycle_marker(cycle_id: int) -> str:
    """The line the launcher prints when cycle `cycle_id` starts."""
    return CYCLE_MARKER.format(cycle_id=cycle_id)


def parse_cycle_marker(text: str) -> int | None:
    """The cycle id announced by `text`, or None."""
    m = CYCLE_MARKER_RE.search(text, 0, 4096)
    if m is None:
        return None
    return int(m.group("ours") or m.group("common"))


def parse_progress(text: str) -> tuple[list[int], bool]:
    """(step numbers in order, whether a checkpoint was saved) for one line."""
    text = text[:4096]
    ckpt = "heckpoint" in text and CHECKPOINT_RE.search(text) is not None
    return line_steps(text.encode("utf-8", "surrogatepass")), ckpt

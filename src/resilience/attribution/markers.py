"""Cycle markers and progress lines.

The launcher prints `cycle_marker(c)` (e.g. ``[resilience] cycle 3 started``) when it starts
cycle c, so one file holding several restarts can be split per cycle. The common ``Cycle: N``
marker of other launchers is understood too (torchelastic's own restarts: `restarts.py`).
Progress = an iteration/step number or a saved checkpoint (`progress`); it feeds the
repeated-root rule.
"""

from __future__ import annotations

import re
from typing import Final

from .progress import CHECKPOINT_RE, line_steps, saved_checkpoint

__all__ = [
    "CHECKPOINT_RE",
    "CYCLE_MARKER",
    "CYCLE_MARKER_RE",
    "cycle_marker",
    "parse_cycle_marker",
    "parse_progress",
]

CYCLE_MARKER: Final = "[resilience] cycle {cycle_id} started"
# Our marker anywhere in the line (it may carry a log prefix), or the common `Cycle: N`.
CYCLE_MARKER_RE: Final = re.compile(
    r"\[resilience\] cycle (?P<ours>\d{1,9}) started|(?<![\w-])Cycle: ?(?P<common>\d{1,9})\b"
)


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
    ckpt = "heckpoint" in text and saved_checkpoint(text)
    return line_steps(text.encode("utf-8", "surrogatepass")), ckpt

"""Cycle markers and progress lines.

The launcher prints `cycle_marker(c)` (e.g. ``[resilience] cycle 3 started``) when it starts
cycle c, so one file holding several restarts can be split per cycle. The common ``Cycle: N``
marker of other launchers is understood too. Progress = an iteration/step number or a saved
checkpoint; it feeds the repeated-root rule.
"""

from __future__ import annotations

import re
from typing import Final

__all__ = [
    "CHECKPOINT_RE",
    "CYCLE_MARKER",
    "CYCLE_MARKER_RE",
    "PROGRESS_RE",
    "cycle_marker",
    "parse_cycle_marker",
    "parse_progress",
]

CYCLE_MARKER: Final = "[resilience] cycle {cycle_id} started"
# Our marker anywhere in the line (it may carry a log prefix), or the common `Cycle: N`.
CYCLE_MARKER_RE: Final = re.compile(
    r"\[resilience\] cycle (?P<ours>\d{1,9}) started|(?<![\w-])Cycle: ?(?P<common>\d{1,9})\b"
)
# `(?<![\w.(/-])(?:global_step|[Ss]tep|STEP|[Ii]teration|ITERATION|[Ii]ter|ITER)` written with
# the look-behind after the first letter (same matches): a leading look-behind makes `re` try
# the whole pattern at every position (3x slower on a 250-char iteration line).
PROGRESS_RE: Final = re.compile(
    r"(?:g(?<![\w.(/-]g)lobal_step|S(?<![\w.(/-]S)(?:tep|TEP)|s(?<![\w.(/-]s)tep"
    r"|I(?<![\w.(/-]I)(?:teration|TERATION|ter|TER)|i(?<![\w.(/-]i)(?:teration|ter))"
    r"\s{0,3}[:=#]?\s{0,12}\[?\s{0,3}(\d{1,12})\b"
)
CHECKPOINT_RE: Final = re.compile(
    r"(?i:sav(?:ed|ing)|wr(?:ote|itten|iting)|stored)\b.{0,80}?\b[Cc]heckpoint"
    r"|[Cc]heckpoint.{0,120}?\b(?i:saved|written|stored)\b"
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


def parse_progress(text: str) -> tuple[int | None, bool]:
    """(step number or None, whether a checkpoint was saved) for one line."""
    text = text[:4096]
    ckpt = "heckpoint" in text and CHECKPOINT_RE.search(text) is not None
    m = PROGRESS_RE.search(text)
    return (int(m.group(1)) if m else None), ckpt


"""Training progress of a stretch of log lines, found without a Python step per line.

Progress = step / iteration numbers (`step 120`, `Iteration: 7`, `global_step=9`, `ITER 3`,
composer's `[batch=4200/48000]:`, ... a keyword not glued to a word, `.`, `(`, `/` or `-`
before it, so `timestep 873` or `train_step 4` do not count) and checkpoint saves (`saved
checkpoint ...`, `Checkpoint ... written`, composer's `Uploading checkpoint to ...`). The engine
needs, per stretch of lines between two error lines: how many times the highest step rose
(the "error followed by progress is stale" rule counts these), the highest step and the line
where it was first reached, and the checkpoint saves.

Each step pattern starts with a literal, so `re` runs its fast literal search between hits and
`findall` collects the numbers in C; the look-behinds after the literal give the word boundary.
The running maximum is `itertools.accumulate` (C too). Only when a stretch mixes two spellings
(`iteration 5 ... step 7`) are the hits put in order one by one. Quantifiers are bounded and no
pattern crosses a newline, so the time is linear in the input.
"""

from __future__ import annotations

import re
from bisect import bisect_left, bisect_right
from dataclasses import dataclass
from itertools import accumulate
from typing import Final

__all__ = ["CHECKPOINT_RE", "STEP_PATTERNS", "Stretch", "line_steps", "saved_checkpoint",
           "scan_progress"]

# Possessive (`?+`, `{m,n}+`): no backtracking into a part that cannot help (each part is
# followed by one that cannot match what it took), ~2x faster on lines that name
# `iterations` without a number; the plain form is in the tests.
_WS = rb"[ \t\r\x0b\x0c]"
_TAIL = _WS + rb"{0,3}+[:=#]?+" + _WS + rb"{0,12}+\[?+" + _WS + rb"{0,3}+(\d{1,12})\b"
_GLUED = rb"[^\w.(/-]"  # what may stand before a keyword (or the buffer start)
# (literal, pattern): every pattern starts with its literal.
# A match runs to the end of its line (`[^\n]*`), so `findall` gives one hit per line: the
# first, as a line-by-line reading takes it.
STEP_PATTERNS: Final = tuple((lit, re.compile(lit + rest + _TAIL + rb"[^\n]*"))
                             for lit, rest in (
    (b"tep", rb"(?:(?<=" + _GLUED + rb"[sS]tep)|(?<![\s\S]{5})(?<=[sS]tep)"
             rb"|(?<=" + _GLUED + rb"global_step)|(?<![\s\S]{12})(?<=global_step))"),
    (b"iter", rb"(?:(?<=" + _GLUED + rb"iter)|(?<![\s\S]{5}))(?:ation)?+"),
    (b"Iter", rb"(?:(?<=" + _GLUED + rb"Iter)|(?<![\s\S]{5}))(?:ation)?+"),
    (b"ITER", rb"(?:(?<=" + _GLUED + rb"ITER)|(?<![\s\S]{5}))(?:ATION)?+"),
    (b"STEP", rb"(?:(?<=" + _GLUED + rb"STEP)|(?<![\s\S]{5}))"),
    (b"batch=", rb"(?<=\[batch=)"),  # composer's console logger: `[batch=4200/48000]:`
))
CHECKPOINT_RE: Final = re.compile(
    r"\b(?i:sav(?:ed|ing)|wr(?:ote|itten|iting)|stored|upload(?:ed|ing))\b.{0,80}?\b[Cc]heckpoint"
    r"|[Cc]heckpoint.{0,120}?\b(?i:saved|written|stored)\b"
)
# a save that did not happen: "Error uploading checkpoint", "failed saving checkpoint"
_NOT_SAVED: Final = re.compile(r"(?i)\b(?:fail(?:ed|ure|s)?|error|unable|could not|cannot)\b")
_CKPT_KEY = b"heckpoint"
_MAX_LINE = 4096  # the checkpoint regex sees at most this much of a line


@dataclass(frozen=True)
class Stretch:
    """Progress in one stretch of lines. Offsets are into the scanned buffer."""

    rises: int = 0  # how many times the highest step rose
    top: int | None = None  # the highest step, if it rose
    top_at: int = -1  # offset of the first hit of `top`
    saves: int = 0  # checkpoint-save lines
    save_at: int = -1  # start of the last of them


def line_steps(line: bytes) -> list[int]:
    """The step number of one line (its first step mention), as a list of 0 or 1."""
    hits = [m for _, rx in STEP_PATTERNS if (m := rx.search(line))]
    return [int(min(hits, key=lambda m: m.start()).group(1))] if hits else []


def scan_progress(buf: bytes, a: int, b: int, highest: int | None) -> Stretch | None:
    """Progress in the lines of `buf[a:b]` (`a` starts a line), given the highest step seen
    before them; None if there is none. A line's step is its first step mention."""
    rises, top, top_at = 0, None, -1
    found = [(lit, rx, vals) for lit, rx in STEP_PATTERNS if (vals := rx.findall(buf, a, b))]
    if len(found) == 1:  # one spelling: one hit per line (each match runs to the line end)
        lit, rx, vals = found[0]
        rises, top, after = _rises(list(map(int, vals)), -1 if highest is None else highest)
        if rises:
            top_at = _hit_from_end(buf, a, b, lit, rx, after)
    elif found:  # several spellings: the first hit of each line, in order
        rfind = buf.rfind
        first: dict[int, tuple[int, int]] = {}
        for _, rx, _ in found:
            for m in rx.finditer(buf, a, b):
                line = rfind(b"\n", a, m.start()) + 1
                if line not in first or m.start() < first[line][0]:
                    first[line] = (m.start(), int(m.group(1)))
        best = highest
        for pos, v in sorted(first.values()):
            if best is None or v > best:
                best, top, top_at, rises = v, v, pos, rises + 1
    saves, save_at = _saves(buf, a, b)
    if not rises and not saves:
        return None
    return Stretch(rises, top, top_at, saves, save_at)


def _rises(steps: list[int], highest: int) -> tuple[int, int | None, int]:
    """(how many times the running highest step rose above `highest`, the new highest or None,
    how many hits come after its first hit). Steps mostly only grow: then no running max is
    needed (`sorted` of a sorted list is one C pass)."""
    if steps == sorted(steps):
        top = steps[-1]
        if top <= highest:
            return 0, None, 0
        new = steps[bisect_right(steps, highest):]
        return len(set(new)), top, len(steps) - 1 - bisect_left(steps, top)
    run = list(accumulate(steps, max, initial=highest))
    top = run[-1]
    if top <= highest:
        return 0, None, 0
    return len(set(run)) - 1, top, len(run) - 1 - run.index(top)


def _hit_from_end(buf: bytes, a: int, b: int, lit: bytes, rx: re.Pattern[bytes],
                  skip: int) -> int:
    """Offset of the hit of the (skip+1)-th line with a hit, counted from the end of
    `buf[a:b]` (a line's hit is its first)."""
    pos = b
    while (pos := buf.rfind(lit, a, pos)) >= 0:
        start = max(a, buf.rfind(b"\n", a, pos) + 1)
        stop = buf.find(b"\n", pos, b)
        m = rx.search(buf, start, b if stop < 0 else stop)  # the line's hit: its first
        if m is not None:
            if skip == 0:
                return m.start()
            skip -= 1
        pos = start  # the line is done
    return -1  # not reached: findall found these hits


def saved_checkpoint(line: str) -> bool:
    """Whether `line` says a checkpoint was saved (not that saving one failed)."""
    return CHECKPOINT_RE.search(line) is not None and _NOT_SAVED.search(line) is None


def _saves(buf: bytes, a: int, b: int) -> tuple[int, int]:
    count, last = 0, -1
    find, rfind = buf.find, buf.rfind
    i = find(_CKPT_KEY, a, b)
    while i >= 0:
        start = max(a, rfind(b"\n", a, i) + 1)
        stop = find(b"\n", i, b)
        stop = b if stop < 0 else stop
        line = buf[start:min(stop, start + _MAX_LINE)].decode("utf-8", "replace")
        if saved_checkpoint(line):
            count, last = count + 1, start
        i = find(_CKPT_KEY, stop, b)
    return count, last

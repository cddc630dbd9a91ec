"""Clocks against line order: which lines of a paste belong to the failure that ended it.

A paste often holds more than one job: "for comparison, yesterday's job ended like this", the
previous job's `CANCELLED AT ... DUE TO TIME LIMIT` under this job's crash. Line order then lies
about time; the timestamps the lines carry do not. Three rules, each needing a line's own clock:

- A scheduler's end of a job (slurmstepd's `CANCELLED AT <time>`) ends every worker within its
  kill wait (30 s by default). A worker failure stamped `_AFTER_END` or more after it is a later
  job's: the cancel ended another job and is not this failure's root. So is a scheduler line
  stamped `_AFTER_END` or more after it (this job's step cancelled hours after "the" time
  limit: that limit was the previous job's).
- A plain cancel (a person's `scancel`, no `DUE TO`) after a worker had already failed is
  someone giving up on a job that hung after that failure: the failure is the root. (Often
  30 minutes after it, the watchdog's timeout: a gap that may also read as two time zones, so
  it counts where the worker failed first in both readings.)
- A line after its stream's last checkpoint save but stamped `_EARLIER` or more before it is an
  earlier run's output pasted later. Training went on past it (to that checkpoint), so it is
  stale, as a line followed by progress is; and a numerical fault after that checkpoint is one
  "after a checkpoint saved since the previous failure" (ATTRIBUTION.md: RESTART). Conversely a
  line above a checkpoint save stamped well after it is not made stale by the progress below
  it: that is an earlier run's.

A fourth needs the watchdog's own arithmetic: a timeout stamped T whose collective `ran for X
milliseconds` began at T - X. A rank that failed when it began (its line, or a launcher's record
of it, stamped from `_WAITED_BEFORE` before to `_WAITED_AFTER` after) is what the collective
waited for: the timeouts are its consequences, in the same run, whatever progress lines a paste
puts between them (another node's terminal pasted below the failed one's), so it is not stale
(`waited_on`).

Timestamps are year-less seconds (`lines.find_timestamp`); the margins are wide so that a
checkpoint still being written when a rank failed, or clocks a little apart, change nothing. A
gap longer than 180 days is the year turning, and one within a minute of a whole half hour may
be two time zones (slurmstepd's local time, a container's UTC): neither is evidence.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .digest import Candidate, ElasticRoot, NodeDigest
from .lines import find_timestamp
from .registry import Role
from .verdict import Category

__all__ = ["clock_stale", "collective_starts", "drop_outlived", "pasted_earlier", "waited_on"]

_AFTER_END = 900.0  # 15 min: far past any kill wait
_EARLIER = 3600.0  # 1 h: longer than a checkpoint save takes
_BEFORE_CANCEL = 60.0  # a worker that died this much before a person's cancel
_WRAPPED = 180 * 86400.0  # a gap this long is the year turning (clocks carry no year)
_ZONE = 1800.0  # time zones differ by whole half hours: slurmstepd's local time, a
_ZONE_SLACK = 60.0  # container's UTC; a gap that close to one is no evidence
_ZONE_BEFORE = 30.0  # ... and read as two time zones, this much before (clocks a little apart)
_WAITED_BEFORE = 60.0  # a failure stamped this much before the collective began (clocks apart)
_WAITED_AFTER = 300.0  # ... or this much after (the others entered it first; an agent's record
# of the failure comes seconds later)
_RAN_FOR = re.compile(r"ran for (\d{1,10}) milliseconds")


def _gap(later: float, earlier: float) -> float | None:
    """`later - earlier` in seconds, or None where it may be the year turning or two time
    zones rather than time passing."""
    gap = later - earlier
    off = abs(gap) % _ZONE
    if abs(gap) > _WRAPPED or (abs(gap) > _ZONE - _ZONE_SLACK
                               and min(off, _ZONE - off) <= _ZONE_SLACK):
        return None
    return gap


def _at_least(later: float, earlier: float, margin: float) -> bool:
    return (gap := _gap(later, earlier)) is not None and gap >= margin


def _failed_before(cancel: float, failed: float) -> bool:
    """Whether a worker stamped `failed` died `_BEFORE_CANCEL` or more before a cancel stamped
    `cancel`, in every reading of the clocks: a gap near whole half hours may be two time
    zones, and also the watchdog's 30 minutes between a failure and the job's end; the worker
    then failed `_ZONE_BEFORE` or more before the cancel read either way."""
    if _at_least(cancel, failed, _BEFORE_CANCEL):
        return True
    raw = cancel - failed
    return _BEFORE_CANCEL <= raw <= _WRAPPED and raw - round(raw / _ZONE) * _ZONE >= _ZONE_BEFORE


def pasted_earlier(c: Candidate, d: NodeDigest) -> bool:
    """Whether `c` (of digest `d`) comes after `d`'s last checkpoint save in the paste but
    happened well before it."""
    return (d.checkpoint_line is not None and d.checkpoint_time is not None
            and c.line > d.checkpoint_line and c.timestamp is not None
            and _at_least(d.checkpoint_time, c.timestamp, _EARLIER))


def clock_stale(c: Candidate, d: NodeDigest) -> bool | None:
    """Whether the clocks say `c` is stale (True: `pasted_earlier`), or not (False: the
    checkpoint saved below it in the paste was saved well before it, so what follows it is an
    earlier run's output, not progress after it); None where they do not say."""
    if pasted_earlier(c, d):
        return True
    if (d.checkpoint_line is not None and d.checkpoint_time is not None
            and c.line < d.checkpoint_line and c.timestamp is not None
            and _at_least(c.timestamp, d.checkpoint_time, _EARLIER)):
        return False
    return None


def drop_outlived(pool: list[tuple[int, Candidate]],
                  records: Sequence[ElasticRoot]) -> list[tuple[int, Candidate]]:
    """`pool` without the scheduler lines that did not end the job whose failures `pool` and
    `records` show: workers failed long after them, or (a plain cancel) before them."""
    ends = {id(c): end for _, c in pool if c.category is Category.SCHEDULER and c.tier == 0
            and (end := find_timestamp(c.text)) is not None}
    if not ends:
        return pool
    times = [e.timestamp for e in records if e.timestamp is not None]
    times += [t for _, o in pool if o.rank is not None and o.role is Role.INITIATING
              and o.category is not Category.SCHEDULER
              and (t := find_timestamp(o.text)) is not None]
    # every scheduler line's clock: a job ends once
    later = times + [t for _, o in pool if o.category is Category.SCHEDULER
                     and (t := find_timestamp(o.text)) is not None]

    def outlived(c: Candidate, end: float) -> bool:
        return any(_at_least(t, end, _AFTER_END) for t in later) or (
            c.kind == "cancelled" and any(_failed_before(end, t) for t in times))

    return [(i, c) for i, c in pool if id(c) not in ends or not outlived(c, ends[id(c)])]


def collective_starts(pool: Sequence[tuple[int, Candidate]]) -> list[float]:
    """When the collectives that timed out began: a watchdog timeout stamped T that `ran for
    X milliseconds` began at T - X (at most 8, distinct)."""
    starts: list[float] = []
    for _, c in pool:
        if c.timeout and c.timestamp is not None and "ran for " in c.text \
                and (m := _RAN_FOR.search(c.text)) is not None:
            start = c.timestamp - int(m.group(1)) / 1000.0
            if len(starts) < 8 and all(abs(start - s) > 1.0 for s in starts):
                starts.append(start)
    return starts


def waited_on(c: Candidate, starts: Sequence[float], records: Sequence[ElasticRoot]) -> bool:
    """Whether an initiating line `c` (of a known rank) failed when a collective that timed
    out began: its own clock, or a launcher's record of its rank, stamped from
    `_WAITED_BEFORE` before the start to `_WAITED_AFTER` after it."""
    if not starts or c.role is not Role.INITIATING or c.rank is None:
        return False
    times = [e.timestamp for e in records if e.rank == c.rank and e.timestamp is not None]
    times += [c.timestamp] if c.timestamp is not None else []
    return any((gap := _gap(t, start)) is not None and -_WAITED_BEFORE <= gap <= _WAITED_AFTER
               for t in times for start in starts)

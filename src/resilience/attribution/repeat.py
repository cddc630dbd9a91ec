"""The repeated-root rule: the same root in consecutive cycles with no progress means restarts
do not help. Pure functions; the leader keeps the history.

History is a sequence, oldest first, whose last item is the cycle just before `current`. Each
item is a `CycleRecord` (or a `Verdict`, read as "no progress during that cycle"). A cycle's
`progressed` flag says whether training progressed *during* it relative to the cycle before
(a newer iteration than the previous cycle reached, or a checkpoint saved); progress breaks
the chain.
"""

from __future__ import annotations

from collections.abc import Sequence

from pydantic import BaseModel, ConfigDict

from .digest import NodeDigest
from .verdict import Action, Verdict

__all__ = ["CycleRecord", "apply_repeat_rule", "made_progress", "repeat_count"]


class CycleRecord(BaseModel):
    """What the repeat rule needs to remember about one failed cycle."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    cycle_id: int
    fingerprint: str
    progressed: bool = False

    @classmethod
    def of(cls, verdict: Verdict, progressed: bool) -> CycleRecord:
        return cls(cycle_id=verdict.cycle_id, fingerprint=verdict.fingerprint,
                   progressed=progressed)


def _max_step(digests: Sequence[NodeDigest]) -> int | None:
    return max((d.last_step for d in digests if d.last_step is not None), default=None)


def made_progress(previous: Sequence[NodeDigest], current: Sequence[NodeDigest]) -> bool:
    """True if `current` saved a checkpoint or reached a newer step than `previous` did."""
    if any(d.checkpoint_line is not None for d in current):
        return True
    now, before = _max_step(current), _max_step(previous)
    return now is not None and (before is None or now > before)


def repeat_count(history: Sequence[CycleRecord | Verdict], current: Verdict,
                 progressed: bool) -> int:
    """How many consecutive cycles, ending with `current`, failed with its fingerprint."""
    if progressed or not current.fingerprint:
        return 1
    count = 1
    for item in reversed(history):
        if item.fingerprint != current.fingerprint:
            break
        count += 1
        if isinstance(item, CycleRecord) and item.progressed:
            break
    return count


def apply_repeat_rule(
    history: Sequence[CycleRecord | Verdict],
    current: Verdict,
    progressed: bool,
    repeat_limit: int = 2,
) -> Verdict:
    """`current`, turned into STOP if its root repeated `repeat_limit` times without progress."""
    count = repeat_count(history, current, progressed)
    if count < repeat_limit or current.action is Action.STOP:
        return current
    reason = (f"same root ({current.fingerprint}) in {count} consecutive cycles with no progress "
              f"(repeat_limit {repeat_limit}) -> STOP; was: {current.reason}")
    return current.model_copy(update={
        "action": Action.STOP, "reason": reason, "confidence": max(current.confidence, 0.8),
    })

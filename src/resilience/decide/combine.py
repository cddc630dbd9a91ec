"""Pure: aggregate verdicts from several sources and turn the result into a decision."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from resilience.attribution import Action, Category, Verdict

__all__ = ["GateDecision", "aggregate", "decide_from_verdict"]

# Categories whose culprit nodes are excluded from the next cycle when spares can fill in.
EXCLUDE_CATEGORIES = frozenset({Category.GPU_HARDWARE, Category.HOST})


@dataclass(frozen=True)
class GateDecision:
    """What the leader does for the next cycle, with the reason that becomes the log line."""

    stop: bool
    reason: str
    exclude_hosts: frozenset[str] = frozenset()
    verdict: Verdict | None = None


def aggregate(verdicts: Mapping[str, Verdict], mode: str) -> Verdict | None:
    """One verdict from many: ``any`` - the first STOP wins; ``all`` - STOP only if every
    answering source says STOP. The returned verdict is the most telling answer."""
    if not verdicts:
        return None
    stops = [v for v in verdicts.values() if v.action is Action.STOP]
    restarts = [v for v in verdicts.values() if v.action is not Action.STOP]
    if stops and (mode == "any" or not restarts):
        return max(stops, key=lambda v: v.confidence)
    if restarts:
        return max(restarts, key=lambda v: (v.category is not Category.UNKNOWN, v.confidence))
    return None


def decide_from_verdict(verdict: Verdict | None, dry_run: bool, why_none: str) -> GateDecision:
    if verdict is None:
        return GateDecision(False, f"RESTART: no verdict ({why_none})")
    summary = (
        f"{verdict.action.value} {verdict.category.value} by {verdict.source}"
        f" (ranks {list(verdict.culprit_ranks) or '-'}): {verdict.reason}"
    )
    if verdict.action is Action.STOP:
        if dry_run:
            return GateDecision(False, f"RESTART (dry run; verdict was {summary})", verdict=verdict)
        return GateDecision(True, summary, verdict=verdict)
    exclude = (
        frozenset(verdict.culprit_nodes) if verdict.category in EXCLUDE_CATEGORIES else frozenset()
    )
    return GateDecision(False, summary, exclude_hosts=exclude, verdict=verdict)

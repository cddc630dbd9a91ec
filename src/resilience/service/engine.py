"""Adapters from the service's analysis seams to the embedded rules engine (issue 4)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from resilience.attribution import (
    NodeDigest,
    Verdict,
    analyze_file,
    read_digests,
    verdict_for_cycles,
)
from resilience.errors import AttributionError

__all__ = ["engine_analyze", "engine_analyze_many"]


def engine_analyze(path: Path, cycle: int | None) -> Verdict:
    """One log file: the engine's verdict for ``cycle`` (default: the file's last cycle)."""
    return analyze_file(path, cycle=cycle)


def _digest_for(path: Path, cycle: int | None) -> NodeDigest | None:
    digests = read_digests(path)
    if cycle is None:
        return digests[-1] if digests else None
    return next((d for d in reversed(digests) if d.cycle_id == cycle), None)


def engine_analyze_many(paths: Sequence[Path], cycle: int | None) -> Verdict:
    """Several logs of one cycle (e.g. ``cycle_<c>/rank_<r>.log`` of every failed rank),
    combined by the engine into one verdict, so the root is chosen across ranks.
    """
    group = [d for d in (_digest_for(p, cycle) for p in paths) if d is not None]
    if not group:
        raise AttributionError(f"cycle {cycle} not found in any of {len(paths)} log files")
    return verdict_for_cycles([group], cycle)

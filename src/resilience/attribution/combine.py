"""`combine`: the pure decision from node digests to a verdict.

Root selection (ATTRIBUTION.md, "How to find the root, not the noise"):
1. Drop stale candidates: lines followed by >= 2 progress advances in their stream (training
   went on, so they did not end this cycle). A post-mortem status (`Candidate.summary`) is
   never stale: a paste puts it before the output it sums up. Where a paste holds two jobs,
   the clocks decide (`timeline.py`): a line stamped well before a checkpoint saved above it
   is stale, and a scheduler's cancel that workers failed long after (or, a person's plain
   cancel, before) did not end this job.
2. If any initiating candidate exists, the root is the best by (tier, timeout?, time): tier 0
   is environment evidence (GPU Xid, host, scheduler) that explains later software errors; tier
   1 definite software faults; tier 2 weak signatures (store errors, unclassified exceptions).
   Inside one stream the earliest line wins, a failure before a mention of one (a paste's
   prose quoting the error: `mentions.a_failure`); across streams the earliest timestamp.
3. Otherwise the root is the earliest cascade (network before timeouts), and the verdict says
   that nothing initiating was seen (all timeouts -> `hang`).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from .digest import STALE_AFTER, Candidate, NodeDigest
from .explain import Root, build_verdict, no_root_verdict
from .mentions import a_failure
from .policy import Policy
from .registry import Role
from .resolve import launcher_records, resolve
from .timeline import clock_stale, collective_starts, drop_outlived, waited_on
from .verdict import Verdict

__all__ = ["DEFAULT_POLICY", "combine"]

DEFAULT_POLICY = Policy()


def live_candidates(
    digests: Sequence[NodeDigest], node_of_rank: Mapping[int, str]
) -> list[tuple[int, Candidate]]:
    """(digest index, candidate) for every non-stale candidate, nodes resolved."""
    out, outrun = [], []
    records = launcher_records(digests)
    for i, d in enumerate(digests):
        for c in d.candidates:
            stale = clock_stale(c, d)
            ran_on = stale is None and d.progress_seq - c.progress_seq >= STALE_AFTER
            if c.summary or not (stale or ran_on):
                out.append((i, resolve(c, d, digests, node_of_rank, records)))
            elif ran_on:  # progress lines follow it: unless the clocks tie it to the timeouts
                outrun.append((i, resolve(c, d, digests, node_of_rank, records)))
    starts = collective_starts(out)
    out += [(i, c) for i, c in outrun if waited_on(c, starts, records)]
    return drop_outlived(out, records)


def _best_per_stream(
    pool: list[tuple[int, Candidate]], cascade: bool
) -> list[tuple[int, Candidate]]:
    def key(item: tuple[int, Candidate]) -> tuple[int, bool, bool, int]:
        c = item[1]
        if cascade:
            return (int(c.tier == 2), False, False, c.line)
        return (c.tier, not a_failure(c), c.timeout, c.line)  # a failure before a mention

    best: dict[int, tuple[int, Candidate]] = {}
    for item in pool:
        if item[0] not in best or key(item) < key(best[item[0]]):
            best[item[0]] = item
    return list(best.values())


def pick_root(pool: list[tuple[int, Candidate]]) -> tuple[int, Candidate] | None:
    """The root candidate among live candidates (see module docstring)."""
    initiating = [it for it in pool if it[1].role is Role.INITIATING]
    cascade = not initiating
    heads = _best_per_stream(initiating or [it for it in pool if it[1].role is Role.CASCADE],
                             cascade)
    if not heads:
        return None
    all_timed = all(c.timestamp is not None for _, c in heads)

    def key(item: tuple[int, Candidate]) -> tuple[float, ...]:
        i, c = item
        when = (c.timestamp or 0.0) if all_timed else 0.0
        if cascade:
            return (float(c.tier == 2), when, float(i), float(c.line))
        return (float(c.tier), float(c.timeout), when, float(i), float(c.line))

    return min(heads, key=key)


def combine(
    digests: Sequence[NodeDigest],
    cycle_id: int,
    policy: Policy = DEFAULT_POLICY,
    node_of_rank: Mapping[int, str] | None = None,
) -> Verdict:
    """The verdict for cycle `cycle_id` from every node's digest. Pure and fast."""
    mapping = node_of_rank or {}
    pool = live_candidates(digests, mapping)
    picked = pick_root(pool)
    if picked is None:
        return no_root_verdict(digests, cycle_id, policy)
    return build_verdict(Root(picked[0], picked[1]), pool, digests, cycle_id, policy, mapping)

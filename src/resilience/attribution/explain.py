"""From a chosen root to a verdict: category refinement, culprits, evidence, reason."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import NamedTuple

from .culprits import (
    culprits,
    every_rank,
    every_rank_exited,
    first_failure,
    killed_silently,
)
from .digest import Candidate, ElasticRoot, NodeDigest
from .fingerprint import exception_type, fingerprint
from .lines import parse_line
from .policy import Policy
from .registry import Role
from .resolve import launcher_records
from .timeline import pasted_earlier
from .verdict import Category, Evidence, Verdict

__all__ = ["Root", "build_verdict", "no_root_verdict"]

_MAX_EVIDENCE = 5


class Root(NamedTuple):
    stream: int
    cand: Candidate


def _ev(c: Candidate) -> Evidence:
    return Evidence(rank=c.rank, line=c.line, text=c.text)


def _failing_ranks(pool: list[tuple[int, Candidate]], records: Sequence[ElasticRoot]) -> set[int]:
    ranks = {c.rank for _, c in pool if c.rank is not None and c.role is not Role.NOISE}
    ranks |= {e.rank for e in records if e.rank is not None}
    return ranks


def _refine(root: Candidate, own: NodeDigest, same: list[Candidate], failing: set[int],
            pool: list[tuple[int, Candidate]], digests: Sequence[NodeDigest],
            cycle_id: int, killed: ElasticRoot | None) -> tuple[Category, str, str]:
    """(category, kind, note) after the rules that need more than the root line."""
    if root.pattern == "dataloader_bus" and any(c.pattern == "eio" for _, c in pool):
        # a DataLoader worker's SIGBUS with disk I/O errors in the log: a memory-mapped read
        # on a failing disk, the node's fault, not /dev/shm
        return (root.category, "node",
                "disk I/O errors in the log: a mapped read failed on this node")
    if root.all_ranks:
        ranks = {c.rank for c in same if c.rank is not None}
        if len(failing) > 1 and not failing <= ranks:
            return (Category.UNKNOWN, "", f"{root.pattern} on rank(s) {sorted(ranks)} only, not "
                    "reproduced on every failing rank, so not proven to be the code's")
    if root.category is Category.NUMERICAL and _checkpoint_since_last_failure(
            root, own, digests, cycle_id):
        return (root.category, "after_checkpoint",
                "a checkpoint was saved since the previous failure")
    if root.role is Role.CASCADE and root.timeout and killed is not None:
        return (Category.UNKNOWN, "", f"{_LAUNCHER[killed.source]} saw it die of signal "
                f"{-(killed.exitcode or 0)} at line {killed.line}, with no error in the log; "
                f"the others only time out ({root.pattern} at line {root.line})")
    if root.role is Role.CASCADE and root.timeout:
        return Category.HANG, "", "only timeouts, no initiating error on any rank"
    if root.role is Role.CASCADE:
        return root.category, root.kind, "no initiating error; earliest consequence shown"
    return root.category, root.kind, ""


def _checkpoint_since_last_failure(root: Candidate, own: NodeDigest,
                                   digests: Sequence[NodeDigest], cycle_id: int) -> bool:
    """A checkpoint saved after the previous failure: in this cycle, when an earlier cycle
    failed; in the same stream after an earlier occurrence of the fault (two attempts in one
    file, in line order or, an earlier run's tail pasted below, by the clocks), or after a
    launcher's record of a failed worker (a retry loop the log does not mark as a cycle)."""
    if cycle_id > 0 and any(d.checkpoint_line is not None for d in digests):
        return True
    # set only when the same stream saved a checkpoint between the two (cycle_state)
    if root.first_line is not None:
        return True
    if _retried(root, own):
        return True
    for d in digests:
        if (root.timestamp is None or root.timestamp > (d.checkpoint_time or 0.0)) and any(
                c.category is Category.NUMERICAL and pasted_earlier(c, d) for c in d.candidates):
            return True
    return False


def _retried(root: Candidate, d: NodeDigest) -> bool:
    """Whether the root's own stream shows a launcher record of a failed worker, then a
    checkpoint saved, then the root: a retry the log does not mark as a cycle. A record whose
    pid fails again after the checkpoint is that same failure quoted twice, not an earlier
    one (a restarted worker has a new pid)."""
    ckpt = d.checkpoint_line
    if ckpt is None or root.line < ckpt:
        return False
    later = {e.pid for e in d.elastic_roots if e.line > ckpt and e.pid is not None}
    return any(e.line < ckpt and (e.pid is None or e.pid not in later) for e in d.elastic_roots)


def _retry_start(root: Candidate, own: NodeDigest,
                 stream: int) -> tuple[int, int, float | None] | None:
    """(stream, line, time) of the checkpoint from which the root's stream holds the attempt
    the root ended, when the stream shows an earlier one the job got past: the same fault
    before a checkpoint saved before the root (a retry the log does not mark as a cycle). A
    launcher's record above that checkpoint, and not stamped after it, was the earlier
    attempt's failure (`launcher_records`)."""
    ckpt = own.checkpoint_line
    if ckpt is None or ckpt > root.line:
        return None
    earlier = root.first_line is not None or any(
        c.pattern == root.pattern and c.line < ckpt for c in own.candidates)
    return (stream, ckpt, own.checkpoint_time) if earlier else None


def _who(ranks: Sequence[int], nodes: Sequence[str]) -> str:
    who = ("rank " + ",".join(map(str, ranks[:8])) + ("..." if len(ranks) > 8 else "")
           if ranks else "")
    if nodes:
        where = ",".join(nodes[:4]) + ("..." if len(nodes) > 4 else "")
        who = f"{who} ({where})" if who else f"node {where}"
    return who or "the job"


def build_verdict(root: Root, pool: list[tuple[int, Candidate]],
                  digests: Sequence[NodeDigest], cycle_id: int, policy: Policy,
                  node_of_rank: Mapping[int, str] | None = None) -> Verdict:
    r = root.cand
    root_fp = fingerprint(r.category.value, r.text, r.pattern)
    same = [c for _, c in pool if c.pattern == r.pattern
            and fingerprint(c.category.value, c.text, c.pattern) == root_fp]
    records = launcher_records(digests, _retry_start(r, digests[root.stream], root.stream))
    failing = _failing_ranks(pool, records)
    killed = killed_silently(records)
    category, kind, note = _refine(r, digests[root.stream], same, failing, pool, digests,
                                   cycle_id, killed)
    action = policy.action_for(category, kind)
    # ranks known to run besides the pool's: ftrun's rank -> node map, ranks paired with a host
    world = set(node_of_rank or ()) | {rank for d in digests for rank in d.rank_hosts}
    every = every_rank(r, same, pool, failing | world)
    exited = 0 if every else every_rank_exited(r, same, pool, records)
    ranks, nodes = culprits(r, same, pool, digests, kind, records, killed, every or exited)
    if (every or exited) and not ranks:
        job = (f"the same on {every} ranks, all or most of the ranks the log shows" if every else
               f"all {exited} ranks the launcher recorded exited with an error, none of a "
               "consequence") + ": the job's, not a rank's"
        note = f"{note}; {job}" if note else job
    others = [c for _, c in pool if c is not r and c.text != r.text]
    evidence = [_ev(r)]
    silent = killed if category is Category.UNKNOWN else None  # a silent death behind timeouts
    if silent is not None:  # its record first, then the timeouts
        evidence.insert(0, Evidence(rank=silent.rank, line=silent.line, text=silent.text))
    evidence += [_ev(c) for c in others if c.pattern == r.pattern][:1]
    consequences = [c for c in others if c.role is Role.CASCADE and c.pattern != r.pattern]
    evidence += [_ev(c) for c in consequences[:1]]
    evidence += [_ev(c) for c in others if _ev(c) not in evidence][: _MAX_EVIDENCE - len(evidence)]
    exc = exception_type(parse_line(r.text).content)
    what = f"{category.value}" + (f" ({exc})" if exc else f" ({r.pattern})")
    reason = (f"{_who(ranks, nodes)}: {note}" if silent is not None
              else f"{_who(ranks, nodes)} hit {what} at line {r.line}" + (f"; {note}" if note
                                                                          else ""))
    csq_ranks = {c.rank for c in consequences if c.rank is not None} - set(ranks)
    if csq_ranks and r.role is Role.INITIATING:
        kinds = sorted({c.pattern for c in consequences})
        reason += (f"; {len(csq_ranks)} other rank(s) only show consequences "
                   f"({', '.join(kinds[:3])})")
    reason += f"; policy {policy.key_for(category, kind)} -> {action.value}"
    return Verdict(
        cycle_id=cycle_id, action=action, category=category,
        confidence=r.confidence if category is r.category else 0.4,
        culprit_ranks=ranks, culprit_nodes=nodes, evidence=tuple(evidence[:_MAX_EVIDENCE]),
        reason=reason, fingerprint=fingerprint(category.value, r.text, r.pattern),
    )


_LAUNCHER = {"root_cause": "torchelastic", "failure": "torchelastic", "srun": "srun",
             "deepspeed": "the DeepSpeed launcher", "spawn": "torch.multiprocessing.spawn",
             "ray": "Ray Train", "mpirun": "mpirun", "composer": "composer's launcher"}


def no_root_verdict(digests: Sequence[NodeDigest], cycle_id: int, policy: Policy) -> Verdict:
    """Nothing matched: `unknown`, with a launcher's first failure as culprit if known."""
    e = first_failure(launcher_records(digests), set())
    action = policy.action_for(Category.UNKNOWN)
    lines = sum(d.lines for d in digests)
    if e is None:
        return Verdict(
            cycle_id=cycle_id, action=action, category=Category.UNKNOWN, confidence=0.2,
            reason=f"no failure signature in {lines} line(s); policy unknown -> {action.value}",
            fingerprint="unknown:none:",
        )
    ranks = (e.rank,) if e.rank is not None else ()
    nodes = (e.host,) if e.host else ()
    return Verdict(
        cycle_id=cycle_id, action=action, category=Category.UNKNOWN, confidence=0.3,
        culprit_ranks=ranks, culprit_nodes=nodes,
        evidence=(Evidence(rank=e.rank, line=e.line, text=e.text),),
        reason=(f"no failure signature; {_LAUNCHER[e.source]} "
                f"names {_who(ranks, nodes)} (exitcode "
                f"{e.exitcode}) as the first failure; policy unknown -> {action.value}"),
        fingerprint=f"unknown:exitcode:{e.exitcode}",
    )

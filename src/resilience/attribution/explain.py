"""From a chosen root to a verdict: category refinement, culprits, evidence, reason."""

from __future__ import annotations

import re
from collections.abc import Sequence
from typing import NamedTuple

from .digest import Candidate, ElasticRoot, NodeDigest
from .fingerprint import exception_type, fingerprint
from .lines import IP, parse_line
from .policy import Policy
from .registry import Role
from .resolve import launcher_records
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


def _refine(root: Candidate, same: list[Candidate], failing: set[int],
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
    if root.category is Category.NUMERICAL and _checkpoint_since_last_failure(root, digests,
                                                                               cycle_id):
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


def _checkpoint_since_last_failure(root: Candidate, digests: Sequence[NodeDigest],
                                   cycle_id: int) -> bool:
    """A checkpoint saved after the previous failure: in this cycle, when an earlier cycle
    failed, or in the same stream after an earlier occurrence of the fault (two attempts in
    one file)."""
    if cycle_id > 0 and any(d.checkpoint_line is not None for d in digests):
        return True
    # set only when the same stream saved a checkpoint between the two (cycle_state)
    return root.first_line is not None


def _culprits(
    root: Candidate, same: list[Candidate], pool: list[tuple[int, Candidate]],
    digests: Sequence[NodeDigest], kind: str, records: Sequence[ElasticRoot],
    killed: ElasticRoot | None,
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    if root.category is Category.SCHEDULER and kind != "node_failure":
        return (), ()  # a time limit or a preemption is the job's, not a rank's
    failed = {e.rank for e in records if e.rank is not None}
    if root.role is Role.CASCADE and root.timeout and killed is not None:
        ranks = [killed.rank] if killed.rank is not None else []
        return tuple(ranks), _nodes_of(ranks, {killed.host} if killed.host else set(), pool,
                                       digests)
    if root.role is Role.CASCADE:
        return _cascade_culprits(root, pool, digests, records, failed)
    ranks = sorted({c.rank for c in same if c.rank is not None})
    nodes = {c.node for c in same if c.node}
    if not ranks:
        # the root line names no rank (a DataLoader worker's message, an NCCL line with only a
        # host prefix): the rank(s) that reported the same kind of fault (on the root's node),
        # if there is one, or if a launcher saw each of them fail
        seen = {c.rank for _, c in pool if c.category is root.category and c.rank is not None
                and c.role is not Role.NOISE and (not nodes or c.node in nodes)}
        ranks = sorted(seen) if len(seen) == 1 or (seen and seen <= failed) else []
    if root.category is Category.NETWORK and len(ranks) > 1 and len(nodes) == 1 \
            and failed & set(ranks):
        # ranks of one node that all saw its shared HCA fail: the culprits are those whose
        # process the launcher saw fail
        ranks = sorted(failed & set(ranks))
    if not ranks and (e := _first_failure(records, nodes)) is not None:
        ranks = [e.rank] if e.rank is not None else []
        nodes |= {e.host} if e.host else set()
    if not ranks and root.category is Category.GPU_HARDWARE:
        ranks = _gpu_symptom(pool, nodes)
    if not nodes and (not ranks or root.category in _NODE_FAULTS):
        # the one host whose lines show this kind of fault (an Xid in a node's dmesg)
        hosts = {c.node for _, c in pool if c.category is root.category and c.node
                 and c.role is Role.INITIATING}
        nodes = hosts if len(hosts) == 1 else nodes
    return tuple(ranks), _nodes_of(ranks, nodes, pool, digests)


def _cascade_culprits(root: Candidate, pool: list[tuple[int, Candidate]],
                      digests: Sequence[NodeDigest], records: Sequence[ElasticRoot],
                      failed: set[int]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """A consequence names its reporter, not the faulty rank: no culprit. Except a network
    fault with nothing initiating anywhere: the link of a rank that reported it and died of
    it, or, when the reporter blames its peer, torchelastic's first failure."""
    if root.category is not Category.NETWORK or root.timeout:
        return (), ()
    first = _first_failure(records, set())
    by_torchelastic = first is not None and first.source in _TORCHELASTIC \
        and first.rank is not None
    if _BLAMES_PEER.search(root.text):  # the peer died
        if first is None or not by_torchelastic or first.rank is None:
            return (), ()
        return (first.rank,), _nodes_of([first.rank], {first.host} if first.host else set(),
                                        pool, digests)
    ranks = _network_reporters(root, pool, records, failed)
    if not ranks or (by_torchelastic and first is not None and first.rank not in ranks):
        return (), ()  # none, or torchelastic saw another rank fail first (the peer?)
    return tuple(ranks), _nodes_of(ranks, {root.node} if root.node else set(), pool, digests)


_TORCHELASTIC = ("root_cause", "failure")  # record sources with a time order

# a reporter that says its peer went away (the peer's process died): not its own link
_BLAMES_PEER = re.compile(r"remote process exited|closed by (?:remote )?peer|reset by peer")


def _network_reporters(root: Candidate, pool: list[tuple[int, Candidate]],
                       records: Sequence[ElasticRoot], failed: set[int]) -> list[int]:
    """The rank(s) a launcher saw fail among those that reported a network fault: the root's
    own if it is one of them, else the only one (on the root's node, for a root line with a
    host but no rank)."""
    reporters = {c.rank for _, c in pool if c.category is Category.NETWORK and not c.timeout
                 and c.rank is not None and not _BLAMES_PEER.search(c.text)} & failed
    if root.rank is not None and root.rank in reporters:
        return [root.rank]
    if not reporters and root.rank is None and root.node:
        reporters = {e.rank for e in records if e.host == root.node and e.rank is not None}
    return sorted(reporters) if len(reporters) == 1 else []


def _nodes_of(ranks: Sequence[int], nodes: set[str], pool: list[tuple[int, Candidate]],
              digests: Sequence[NodeDigest]) -> tuple[str, ...]:
    """`nodes`, or else the nodes the culprit ranks are known to run on; by the short name
    where the log names a node both ways (`jwb0417.juwels` and `jwb0417`)."""
    found = set(nodes)
    if not nodes and ranks:
        found = {c.node for _, c in pool if c.rank in ranks and c.node}
        for rank in ranks:
            hosts = {d.rank_hosts[rank] for d in digests if rank in d.rank_hosts}
            if len(hosts) == 1 and "" not in hosts:
                found |= hosts
    if any("." in n for n in found):
        known = {c.node for _, c in pool if c.node} | {
            h for d in digests for h in (*d.rank_hosts.values(), *d.pid_hosts.values())} | {
            e.host for d in digests for e in d.elastic_roots if e.host}
        found = {short if "." in n and not IP.fullmatch(n)
                 and (short := n.split(".", 1)[0]) in known else n for n in found}
    return tuple(sorted(found))


# signals a worker dies of by itself or from outside (the OOM killer, a kubelet, a segfault),
# unlike the NCCL watchdog's SIGABRT, the launcher's SIGTERM or a Ctrl-C
_SILENT_SIGNALS = frozenset({-4, -7, -8, -9, -11})


def _killed(records: Sequence[ElasticRoot]) -> ElasticRoot | None:
    """torchelastic's record of the one worker that died of such a signal, when the log has
    only timeouts: it died first, silently, and the others waited for it. None if none did,
    or several."""
    killed = [e for e in records if e.source in _TORCHELASTIC and e.exitcode in _SILENT_SIGNALS]
    ranks = {e.rank for e in killed if e.rank is not None}
    locals_ = {e.local_rank for e in killed}
    hosts = {e.host for e in killed if e.host}
    if len(ranks) != 1 or len(locals_) != 1 or len(hosts) > 1:
        return None  # none, several, or one known by its local rank only
    return max((e for e in killed if e.rank is not None), key=lambda e: e.host is not None)


def _first_failure(records: Sequence[ElasticRoot], nodes: set[str]) -> ElasticRoot | None:
    """The launcher's first failed worker (on `nodes`, when known): torchelastic's earliest
    failure (its `Root Cause` on a tie), else the one worker srun, DeepSpeed, `mp.spawn` or
    Ray saw end with an error (with an error code, when others died of a signal)."""
    records = [e for e in records if not nodes or e.host in nodes]
    elastic = [e for e in records if e.source in _TORCHELASTIC]
    if elastic:
        return min(elastic, key=lambda e: (e.timestamp is None, e.timestamp or 0.0,
                                           e.source != "root_cause", e.line))
    others = [e for e in records if e.source in ("srun", "deepspeed", "spawn", "ray")]
    if len({(e.rank, e.local_rank, e.host) for e in others}) > 1:
        # one exited with an error code, the others were killed by a signal after it
        others = [e for e in others if (e.exitcode or 0) > 0]
    return others[0] if len({(e.rank, e.local_rank, e.host) for e in others}) == 1 else None


# faults of a node's hardware: the host whose lines show one is the culprit node
_NODE_FAULTS = frozenset({Category.GPU_HARDWARE, Category.HOST, Category.NETWORK})

# CUDA errors a rank sees when its GPU fails under it
_GPU_SYMPTOMS = frozenset({"illegal_access", "cuda_unknown", "cuda_other", "gpu_unavailable"})


def _gpu_symptom(pool: list[tuple[int, Candidate]], nodes: set[str]) -> list[int]:
    """A hardware root that names no rank (an `Xid` line of dmesg) is the GPU of the one
    rank that saw a CUDA error (on the root's node, when that is known)."""
    seen = {c.rank for _, c in pool
            if c.pattern in _GPU_SYMPTOMS and c.rank is not None
            and (not nodes or c.node in nodes)}
    return sorted(seen) if len(seen) == 1 else []


def _who(ranks: Sequence[int], nodes: Sequence[str]) -> str:
    who = ("rank " + ",".join(map(str, ranks[:8])) + ("..." if len(ranks) > 8 else "")
           if ranks else "")
    if nodes:
        where = ",".join(nodes[:4]) + ("..." if len(nodes) > 4 else "")
        who = f"{who} ({where})" if who else f"node {where}"
    return who or "the job"


def build_verdict(root: Root, pool: list[tuple[int, Candidate]],
                  digests: Sequence[NodeDigest], cycle_id: int, policy: Policy) -> Verdict:
    r = root.cand
    root_fp = fingerprint(r.category.value, r.text, r.pattern)
    same = [c for _, c in pool if c.pattern == r.pattern
            and fingerprint(c.category.value, c.text, c.pattern) == root_fp]
    records = launcher_records(digests)
    failing = _failing_ranks(pool, records)
    killed = _killed(records)
    category, kind, note = _refine(r, same, failing, pool, digests, cycle_id, killed)
    action = policy.action_for(category, kind)
    ranks, nodes = _culprits(r, same, pool, digests, kind, records, killed)
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
             "ray": "Ray Train"}


def no_root_verdict(digests: Sequence[NodeDigest], cycle_id: int, policy: Policy) -> Verdict:
    """Nothing matched: `unknown`, with a launcher's first failure as culprit if known."""
    e = _first_failure(launcher_records(digests), set())
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

"""Who is to blame for a chosen root: the culprit ranks and nodes of a verdict.

The root line's own rank and host first; else what the launchers recorded (torchelastic's
first failure, srun, DeepSpeed, `mp.spawn`, Ray, mpirun, composer); else the one rank or host
whose lines show
the same kind of fault.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence

from ..hostnames import same_host, short_name
from .digest import Candidate, ElasticRoot, NodeDigest
from .registry import Role
from .verdict import Category

__all__ = ["culprits", "every_rank", "first_failure", "killed_silently", "nodes_of",
           "odd_rank_out"]


def culprits(
    root: Candidate, same: list[Candidate], pool: list[tuple[int, Candidate]],
    digests: Sequence[NodeDigest], kind: str, records: Sequence[ElasticRoot],
    killed: ElasticRoot | None, every: int = 0,
) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """`every`: `every_rank` of the root (the ranks that all raised it, or 0)."""
    if (root.category is Category.SCHEDULER and kind != "node_failure") \
            or root.pattern == "loss_scale_min":
        return (), ()  # a time limit, a preemption, fp16's global loss scale: the job's
    if root.pattern == "store_timeout" and "waiting for clients" in root.text:
        return (), ()  # the store's host waited: the clients that did not join are to blame
    failed = {e.rank for e in records if e.rank is not None}
    if root.role is Role.CASCADE and root.timeout and killed is not None:
        ranks = [killed.rank] if killed.rank is not None else []
        return tuple(ranks), nodes_of(ranks, {killed.host} if killed.host else set(), pool,
                                      digests)
    if root.role is Role.CASCADE:
        return _cascade_culprits(root, pool, digests, records, failed)
    ranks = sorted({c.rank for c in same if c.rank is not None})
    nodes = {c.node for c in same if c.node}
    if root.pattern == "slurm_cancel_node_fail":  # its host reported another node's failure
        named = {c.node for _, c in pool if c.kind == "node_failure" and c.node
                 and c.pattern != root.pattern}
        ranks, nodes = [], named if len(named) == 1 else set()  # the one another line names
    if _MISMATCH.search(root.text) and (
            odd := odd_rank_out((c.rank, c.text) for _, c in pool)) is not None:
        ranks, nodes = [odd], {c.node for _, c in pool if c.rank == odd and c.node}
    elif every:
        return (), ()  # the same exception on every rank: the code's, not a rank's
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
    if not ranks and (e := first_failure(records, nodes)) is not None:
        ranks = [e.rank] if e.rank is not None else []
        nodes |= {e.host} if e.host else set()
    if not ranks and root.category is Category.GPU_HARDWARE:
        ranks = _gpu_symptom(pool, nodes)
    if not nodes and (not ranks or root.category in _NODE_FAULTS):
        # the one host whose lines show this kind of fault (an Xid in a node's dmesg)
        hosts = {c.node for _, c in pool if c.category is root.category and c.node
                 and c.role is Role.INITIATING and c.pattern != "slurm_cancel_node_fail"}
        nodes = hosts if len(hosts) == 1 else nodes
    if kind == "node_failure" and len(nodes) == 1:
        ranks = _lost_node_ranks(next(iter(nodes)), digests) or ranks
    return tuple(ranks), nodes_of(ranks, nodes, pool, digests)


def _lost_node_ranks(node: str, digests: Sequence[NodeDigest]) -> list[int]:
    """Every rank a lost node ran (SLURM's node failure, a reclaimed VM), where the log
    places a block of two or more there; none for a few with gaps or one alone (a partial
    view: the node ran more)."""
    lost = sorted({rank for d in digests for rank, host in d.rank_hosts.items()
                   if host and same_host(host, node)})
    return lost if len(lost) >= 2 and lost[-1] - lost[0] + 1 == len(lost) else []


# faults that are the job's when every rank hits them (its code, config, data or checkpoint)
_JOB_FAULTS = frozenset({Category.USER_CODE, Category.NUMERICAL, Category.CUDA_OOM,
                         Category.STORAGE})


def every_rank(root: Candidate, same: list[Candidate], pool: list[tuple[int, Candidate]],
               others: set[int] | frozenset[int]) -> int:
    """How many ranks raised the root's exception when they are every rank the log shows, so
    none is to blame (ATTRIBUTION.md: "a Python exception on every rank with the same
    traceback is the code's"); 0 otherwise. Every rank: ranks 0..n-1 with n >= 2, and neither
    a candidate line nor `others` (ranks a launcher saw fail, ranks known to run somewhere)
    naming another rank. A paste shows some ranks' output only: 3 or more ranks that are more
    than half of the world (the highest rank seen + 1), with no other rank raising an error of
    its own, count as every rank too (11 of 16 ranks' `KeyError: 'conversations'`)."""
    if root.role is not Role.INITIATING or root.category not in _JOB_FAULTS:
        return 0
    ranks = {c.rank for c in same if c.rank is not None}
    if len(ranks) < 2:
        return 0
    seen = {c.rank for _, c in pool if c.rank is not None} | others
    if ranks == set(range(len(ranks))) and seen <= ranks:
        return len(ranks)
    world = max(seen) + 1
    other = any(c.rank not in ranks and c.role is Role.INITIATING for _, c in pool
                if c.rank is not None)
    return len(ranks) if len(ranks) >= 3 and 2 * len(ranks) > world and not other else 0


def every_rank_exited(root: Candidate, same: list[Candidate], pool: list[tuple[int, Candidate]],
                      records: Sequence[ElasticRoot]) -> int:
    """How many ranks a launcher saw exit with an error of their own (exit code > 0, not a
    signal) when that is every rank it recorded but a few it killed after (at least 3 in 4,
    and 2 or more), the root's exception is pasted once without a rank or by each of them
    (3 or more, half the world or more: a launcher that prints only the ranks that crashed
    says nothing of the others), and nothing in the log says another failure made them exit
    (no consequence line, no line of a rank with another error): each raised it, so none is
    to blame (a torchelastic `Failures:` list of 8 ranks with `exitcode : 1` under one
    `KeyError`, composer's dump of each one's stderr); 0 otherwise."""
    if root.role is not Role.INITIATING or root.category not in _JOB_FAULTS:
        return 0
    if any(c.role is Role.CASCADE or (c.rank is not None and c.pattern != root.pattern)
           for _, c in pool):
        return 0
    codes = {e.rank: e.exitcode for e in records if e.rank is not None}
    errored = {rank for rank, code in codes.items() if code is not None and code > 0}
    if (raised := {c.rank for c in same if c.rank is not None}) and (
            raised != errored or len(raised) < 3 or 2 * len(raised) < _world(pool, codes)):
        return 0  # (a few ranks that each ran out of memory are each a culprit)
    return len(errored) if len(errored) >= 2 and 4 * len(errored) >= 3 * len(codes) else 0


def _world(pool: list[tuple[int, Candidate]], codes: dict[int, int | None]) -> int:
    """The world the log shows: its highest rank + 1."""
    return 1 + max((*codes, *(c.rank for _, c in pool if c.rank is not None)), default=0)


# torch's ProcessGroupWrapper (TORCH_DISTRIBUTED_DEBUG=DETAIL) on every rank: "Rank <me> is
# running collective: <mine>, but Rank <first rank that differs> is running collective: ..."
_MISMATCH = re.compile(r"Rank (\d{1,7}) is running collective: .{1,3000}?, but Rank (\d{1,7}) is "
                       r"running collective")


def odd_rank_out(lines: Iterable[tuple[int | None, str]]) -> int | None:
    """The rank whose collective differs from the others' in a collective-mismatch report,
    from (the line's prefix rank, its text) pairs.

    Every rank raises, so the raising ranks are not the culprit: the one that ran another
    collective is. Each rank names the first rank that differs from it, so the odd one is named
    by all the others, and names rank 0 (1, if it is rank 0) itself. So: the rank the lines name
    most. One line `Rank a ..., but Rank b`: b, unless b is 0 (a is odd, or 0 is) or a, b are 0,
    1 (likewise). None without a report, on a tie, or when a prefix rank is not the rank the
    line names (a sub-group's ranks: `new_group` numbers its members from 0). Several odd ranks
    all name rank 0: only one of them comes out.
    """
    pairs = set()
    for prefix, text in lines:
        if (m := _MISMATCH.search(text)) is None:
            continue
        me, other = int(m[1]), int(m[2])
        if prefix is not None and prefix != me:
            return None
        pairs.add((me, other))
    if len(pairs) == 1:
        ((me, other),) = pairs
        return None if other == 0 or (me, other) == (0, 1) else other
    counts = Counter(r for pair in pairs for r in pair).most_common(2)
    return counts[0][0] if len(counts) > 1 and counts[0][1] > counts[1][1] else None


def _cascade_culprits(root: Candidate, pool: list[tuple[int, Candidate]],
                      digests: Sequence[NodeDigest], records: Sequence[ElasticRoot],
                      failed: set[int]) -> tuple[tuple[int, ...], tuple[str, ...]]:
    """A consequence names its reporter, not the faulty rank: no culprit. Except a network
    fault with nothing initiating anywhere: the link of a rank that reported it and died of
    it, or, when the reporter blames its peer, torchelastic's first failure."""
    if root.category is not Category.NETWORK or root.timeout:
        return (), ()
    first = first_failure(records, set())
    by_torchelastic = first is not None and first.source in _TORCHELASTIC \
        and first.rank is not None
    if _BLAMES_PEER.search(root.text):  # the peer died
        if first is None or not by_torchelastic or first.rank is None:
            return (), ()
        return (first.rank,), nodes_of([first.rank], {first.host} if first.host else set(),
                                       pool, digests)
    ranks = _network_reporters(root, pool, records, failed)
    if not ranks or (by_torchelastic and first is not None and first.rank not in ranks):
        return (), ()  # none, or torchelastic saw another rank fail first (the peer?)
    return tuple(ranks), nodes_of(ranks, {root.node} if root.node else set(), pool, digests)


_TORCHELASTIC = ("root_cause", "failure")  # record sources with a time order

# a reporter that says its peer went away (the peer's process died): not its own link
_BLAMES_PEER = re.compile(r"remote process exited|closed by (?:remote )?peer|reset by peer")


def _network_reporters(root: Candidate, pool: list[tuple[int, Candidate]],
                       records: Sequence[ElasticRoot], failed: set[int]) -> list[int]:
    """The rank(s) a launcher saw fail among those that reported a network fault: the root's
    own if it is one of them; for a root line without a rank, the only one (on the root's
    node, for a root line with a host)."""
    reporters = {c.rank for _, c in pool if c.category is Category.NETWORK and not c.timeout
                 and c.rank is not None and not _BLAMES_PEER.search(c.text)} & failed
    if root.rank is not None:  # the root's own, or none: another reporter saw it later
        return [root.rank] if root.rank in reporters else []
    if not reporters and root.node:
        reporters = {e.rank for e in records
                     if e.host and same_host(e.host, root.node) and e.rank is not None}
    return sorted(reporters) if len(reporters) == 1 else []


def nodes_of(ranks: Sequence[int], nodes: set[str], pool: list[tuple[int, Candidate]],
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
        found = {short if (short := short_name(n)) in known else n for n in found}
    return tuple(sorted(found))


# signals a worker dies of by itself or from outside (the OOM killer, a kubelet, a segfault),
# unlike the NCCL watchdog's SIGABRT, the launcher's SIGTERM or a Ctrl-C
_SILENT_SIGNALS = frozenset({-4, -7, -8, -9, -11})


def killed_silently(records: Sequence[ElasticRoot]) -> ElasticRoot | None:
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


def first_failure(records: Sequence[ElasticRoot], nodes: set[str]) -> ElasticRoot | None:
    """The launcher's first failed worker (on `nodes`, when known): torchelastic's earliest
    failure (its `Root Cause` on a tie), else the one worker srun, DeepSpeed, `mp.spawn`, Ray,
    mpirun or composer saw end with an error (with an error code, when others died of a
    signal)."""
    records = [e for e in records if not nodes or any(
        same_host(e.host or "", node) for node in nodes)]  # `gpu7` is `gpu7.cluster`
    elastic = [e for e in records if e.source in _TORCHELASTIC]
    if elastic:
        return min(elastic, key=lambda e: (e.timestamp is None, e.timestamp or 0.0,
                                           e.source != "root_cause", e.line))
    others = [e for e in records if e.source not in _TORCHELASTIC]
    if len(ooms := [e for e in others if ": Out Of Memory" in e.text]) == 1:
        return ooms[0]  # srun's task its cgroup's OOM killer ended; the others died after it
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
    rank that saw a CUDA error (on the root's node, when that is known: Ray names it by its IP,
    dmesg by its EC2 name)."""
    seen = {c.rank for _, c in pool
            if c.pattern in _GPU_SYMPTOMS and c.rank is not None
            and (not nodes or any(same_host(c.node or "", n) for n in nodes))}
    return sorted(seen) if len(seen) == 1 else []

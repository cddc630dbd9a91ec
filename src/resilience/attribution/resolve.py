"""Which rank and node a candidate line belongs to, from everything the digests know.

A line's own prefixes come first (`[rank3]:`, `3: ` from `srun -l`, `host:pid:tid`). Then, for
a line without a host: the launcher's rank -> node assignment (inside ftrun), lines elsewhere
that name the same rank and a host (`srun: error: host: task 3`), the host whose NCCL lines
carry the pid the line names (`Xid ... pid=51210`), the digest's own node, and torchelastic's
`Root Cause` block. A line without a rank that names a pid takes the rank that lines elsewhere
pair with that pid (a rank prefix before an NCCL `host:pid:tid` prefix, Ray Train's worker
table); one that names a GPU above 0 on a known host takes that local rank's (`_DEVICE`).

torchrun's `--tee` prefix `[default3]:` is a *local* rank (`[{role}{local_rank}]:`). It is the
global rank only on a single node. So a candidate whose rank came from such a prefix gets the
global rank of the torchelastic failure entry with that local rank (and host, when known);
without one, on a log that shows more than one node, its global rank is unknown (None); on a
log that shows one node, local == global.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from ..hostnames import same_host
from .digest import RECORD_SOURCES, Candidate, ElasticRoot, NodeDigest
from .lines import IP, pid_of

__all__ = ["launcher_records", "resolve"]


def resolve(c: Candidate, d: NodeDigest, digests: Sequence[NodeDigest],
            node_of_rank: Mapping[int, str], records: Sequence[ElasticRoot]) -> Candidate:
    """`c` (from digest `d`) with its global rank and its node filled in where known;
    `records` is `launcher_records(digests)`."""
    rank, local = c.rank, c.local_rank
    if local and rank is not None:
        rank = _global_rank(rank, c.node, digests, c.task, c.base)
    pid = c.pid if c.pid is not None else pid_of(c.text)
    if rank is None and pid is not None:
        found = {d2.pid_ranks[pid] for d2 in digests if pid in d2.pid_ranks}
        found |= {e.rank for e in records if e.pid == pid and e.rank is not None}
        rank = next(iter(found)) if len(found) == 1 and -1 not in found else None
        if rank is not None and c.node and not _same_node(
                _host_of(rank, digests, node_of_rank), c.node):
            rank = None  # the pid's rank runs elsewhere: pids repeat across nodes
    if rank is None and c.node and (m := _DEVICE.search(c.text)) and (
            device := int(m.group(1) or m.group(2) or m.group(3))) > 0:
        rank = _on_node(device, c.node, digests)
    node = (node_of_rank.get(rank) if rank is not None else None) or c.node
    if node is None and rank is not None:
        node = _only({d2.rank_hosts[rank] for d2 in digests if rank in d2.rank_hosts})
    if node is None and pid is not None:
        node = _only({d2.pid_hosts[pid] for d2 in digests if pid in d2.pid_hosts})
    node = node or d.node
    if node is None and rank is not None:
        node = next((e.host for e in d.elastic_roots if e.rank == rank and e.host), None)
    if (rank, node, local) == (c.rank, c.node, False):
        return c
    return c.model_copy(update={"rank": rank, "node": node, "local_rank": False})


def _host_of(rank: int, digests: Sequence[NodeDigest],
             node_of_rank: Mapping[int, str]) -> str | None:
    return node_of_rank.get(rank) or _only(
        {d.rank_hosts[rank] for d in digests if rank in d.rank_hosts})




def _same_node(known: str | None, host: str) -> bool:
    """Whether `host` may be `known` (unknown, the same by short or full name, or one is an IP
    and one a name)."""
    return known is None or same_host(known, host) or bool(IP.fullmatch(known)) != bool(
        IP.fullmatch(host))


def _only(hosts: set[str]) -> str | None:
    """The host, if exactly one is known ("" marks a key seen with two hosts)."""
    return next(iter(hosts)) if len(hosts) == 1 and "" not in hosts else None


def launcher_records(digests: Sequence[NodeDigest],
                     since: tuple[int, int, float | None] | None = None) -> list[ElasticRoot]:
    """Every digest's launcher failure records, each with its global rank where it names
    only a local rank (a launcher's rank mapping, or a log of one node, says which) or only a
    pid (a Ray worker: the pid's rank), and its rank's host where it names none. Computed once
    per decision. `since` (digest index, line, time): of that digest, the records from that
    line on, or stamped at that time or later (a paste puts sections out of order)."""
    out = []
    for i, d in enumerate(digests):
        for e in d.elastic_roots:
            if e.source not in RECORD_SOURCES:
                continue  # a newer agent's launcher: unknown here
            if since is not None and since[0] == i and e.line < since[1] and (
                    e.timestamp is None or since[2] is None or e.timestamp < since[2]):
                continue  # an earlier attempt's
            rank = e.rank
            if rank is None and e.local_rank is not None:
                rank = _global_rank(e.local_rank, e.host, digests, section=e.base, pid=e.pid)
            if rank is None and e.pid is not None:
                found = {d2.pid_ranks[e.pid] for d2 in digests if e.pid in d2.pid_ranks}
                rank = found.pop() if len(found) == 1 and -1 not in found else None
            host = e.host or (_only({d2.rank_hosts[rank] for d2 in digests
                                     if rank in d2.rank_hosts}) if rank is not None else None)
            out.append(e if (rank, host) == (e.rank, e.host)
                       else e.model_copy(update={"rank": rank, "host": host}))
    return out


# the GPU a line names: a CUDA OOM's `(GPU 2; 79.15 GiB total capacity ...)` / `GPU 2 has a
# total capacity`, NCCL's `host:pid:tid [2]`. Its index is the worker's local rank when the
# worker sees all of its node's GPUs and uses `cuda:{local_rank}` (the launchers' convention);
# a worker that sees one GPU (CUDA_VISIBLE_DEVICES per task) names GPU 0 whatever its rank, so
# only an index above 0 is taken, and only on a host whose ranks a launcher's mapping gives.
_DEVICE = re.compile(r"\(GPU (\d{1,3});|\bGPU (\d{1,3}) has a total capaci?ty"
                     r"|:\d{1,9}:\d{1,9} \[(\d{1,3})\] NCCL ")


def _on_node(local: int, host: str, digests: Sequence[NodeDigest]) -> int | None:
    """Global rank of local rank `local` on `host` from a launcher's mapping or the host's
    node rank, nothing else."""
    if (rank := _mapped(local, host, digests)) is not None:
        return rank
    base = _base(host, digests)
    return base + local if base is not None else None


def _base(key: str, digests: Sequence[NodeDigest]) -> int | None:
    """The first global rank of the node `key` names (`NodeDigest.node_bases`), if the
    digests agree on one."""
    bases = {d.node_bases[key] for d in digests if key in d.node_bases}
    return base if len(bases) == 1 and (base := next(iter(bases))) >= 0 else None


def _mapped(local: int, host: str, digests: Sequence[NodeDigest]) -> int | None:
    """Global rank of local rank `local` on `host`, from a launcher's mapping."""
    found = {d.host_ranks[host][local] for d in digests
             if local < len(d.host_ranks.get(host, ()))}
    return next(iter(found)) if len(found) == 1 else None


# More processes than any GPU node has (16: a DGX-2): when nothing maps a `[default27]:`
# prefix, it is taken as printed (a global rank) rather than dropped. A CPU-only job with more
# processes per node and no node rank in its log gets a wrong culprit rank from this.
_MAX_LOCAL_RANK = 15


def _global_rank(local: int, host: str | None, digests: Sequence[NodeDigest],
                 task: int | None = None, section: int | None = None,
                 pid: int | None = None) -> int | None:
    if host and (rank := _mapped(local, host, digests)) is not None:
        return rank
    if section is not None and task is None and not host:
        return section + local  # a paste of one node's output after its launcher's line
    for key in (f"task {task}" if task is not None else None, host, ""):
        if key is not None and (base := _base(key, digests)) is not None:
            return base + local  # node_rank x processes per node + local rank
    agents = {tuple(ranks) for d in digests for ranks in d.agent_ranks}
    if len(agents) == 1 and local < len(mapping := next(iter(agents))):
        return mapping[local]  # the torchelastic agent of the log's one node
    entries = [e for d in digests for e in d.elastic_roots
               if e.local_rank == local and e.rank is not None
               and (not host or same_host(e.host or "", host))
               and (pid is None or e.pid is None or e.pid == pid)]  # (not another process)
    if len({e.rank for e in entries}) == 1:
        return entries[0].rank
    return None if _many_nodes(digests) and local <= _MAX_LOCAL_RANK else local


def _many_nodes(digests: Sequence[NodeDigest]) -> bool:
    """Whether the log shows more than one node (then a local rank is not a global one)."""
    hosts = {h for d in digests for h in (*d.rank_hosts.values(), *d.pid_hosts.values()) if h}
    hosts |= {e.host for d in digests for e in d.elastic_roots if e.host}
    hosts |= {c.node for d in digests for c in d.candidates if c.node}
    entries = [e for d in digests for e in d.elastic_roots]
    agents = {tuple(ranks) for d in digests for ranks in d.agent_ranks}
    if len(agents) > 1 or any(ranks[:1] != (0,) for ranks in agents):
        return True  # two nodes' agents, or the agent of a node other than the first
    if any(c.task and not c.task_rank and c.rank is None for d in digests for c in d.candidates):
        return True  # a line under srun's task 1 or above that is no rank (a node's task)
    return len(hosts) > 1 or any(
        e.local_rank is not None and e.rank is not None and e.rank != e.local_rank
        for e in entries)

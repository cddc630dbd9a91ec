"""Which rank and node a candidate line belongs to, from everything the digests know.

A line's own prefixes come first (`[rank3]:`, `3: ` from `srun -l`, `host:pid:tid`). Then, for
a line without a host: the launcher's rank -> node assignment (inside ftrun), lines elsewhere
that name the same rank and a host (`srun: error: host: task 3`), the host whose NCCL lines
carry the pid the line names (`Xid ... pid=51210`), the digest's own node, and torchelastic's
`Root Cause` block.

torchrun's `--tee` prefix `[default3]:` is a *local* rank (`[{role}{local_rank}]:`). It is the
global rank only on a single node. So a candidate whose rank came from such a prefix gets the
global rank of the torchelastic failure entry with that local rank (and host, when known);
without one, on a log that shows more than one node, its global rank is unknown (None); on a
log that shows one node, local == global.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence

from .digest import Candidate, NodeDigest

__all__ = ["resolve"]

_PID = re.compile(r"\bpid[=:] ?(\d{1,9})\b")  # `Xid ...: 79, pid=2271, name=python, ...`


def resolve(c: Candidate, d: NodeDigest, digests: Sequence[NodeDigest],
            node_of_rank: Mapping[int, str]) -> Candidate:
    """`c` (from digest `d`) with its global rank and its node filled in where known."""
    rank, local = c.rank, c.local_rank
    if local and rank is not None:
        rank = _global_rank(rank, c.node, digests)
    node = (node_of_rank.get(rank) if rank is not None else None) or c.node
    if node is None and rank is not None:
        node = _only({d2.rank_hosts[rank] for d2 in digests if rank in d2.rank_hosts})
    if node is None and (m := _PID.search(c.text)):
        pid = int(m.group(1))
        node = _only({d2.pid_hosts[pid] for d2 in digests if pid in d2.pid_hosts})
    node = node or d.node
    if node is None and rank is not None:
        node = next((e.host for e in d.elastic_roots if e.rank == rank and e.host), None)
    if (rank, node, local) == (c.rank, c.node, False):
        return c
    return c.model_copy(update={"rank": rank, "node": node, "local_rank": False})


def _only(hosts: set[str]) -> str | None:
    """The host, if exactly one is known ("" marks a key seen with two hosts)."""
    return next(iter(hosts)) if len(hosts) == 1 and "" not in hosts else None


def _global_rank(local: int, host: str | None, digests: Sequence[NodeDigest]) -> int | None:
    entries = [e for d in digests for e in d.elastic_roots
               if e.local_rank == local and e.rank is not None and (not host or e.host == host)]
    if len({e.rank for e in entries}) == 1:
        return entries[0].rank
    return None if _many_nodes(digests) else local


def _many_nodes(digests: Sequence[NodeDigest]) -> bool:
    """Whether the log shows more than one node (then a local rank is not a global one)."""
    hosts = {h for d in digests for h in (*d.rank_hosts.values(), *d.pid_hosts.values()) if h}
    hosts |= {e.host for d in digests for e in d.elastic_roots if e.host}
    hosts |= {c.node for d in digests for c in d.candidates if c.node}
    entries = [e for d in digests for e in d.elastic_roots]
    return len(hosts) > 1 or any(
        e.local_rank is not None and e.rank is not None and e.rank != e.local_rank
        for e in entries)

"""Open MPI's placement of ranks by slot: a hostfile (`gpu-c02 slots=4`, DeepSpeed's too) and
`--display-map` (`Data for node: gpu-c02  Num slots: 4 ...` then `Process OMPI jobid: ..
Process rank: 8`) list hosts in slot order; mpirun's own `--map-by slot` / `--map-by
ppr:n:node` / `-npernode n` says it maps by them.

A hostfile alone may not be the job's, nor its default mapping the job's (`--map-by node`,
one torchrun per node): `Slots.by_slot` places ranks only where the log confirms it.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from ..hostnames import same_host
from .pairs import MAX_PAIRS

__all__ = ["Slots"]

# the processes `--display-map` lists under a node: `Process OMPI jobid: [40711,1] App: 0
# Process rank: 8 Bound: N/A` (whatever the mapping policy)
_MAP_RANK = re.compile(r"^\s{0,8}Process OMPI jobid: \[\d{1,9},\d{1,6}\] App: \d{1,4} Process "
                       r"rank: (\d{1,7})\b")
# Open MPI's hostfile (`gpu-c02 slots=4`, DeepSpeed's too) and `--display-map`'s `Data for
# node: gpu-c02  Num slots: 4  Max slots: 0  Num procs: 4`: hosts in slot order
_SLOTS = re.compile(r"^\s{0,8}(?:Data for node: ([\w.-]{1,80})\s{1,8}Num slots: \d{1,4}\s{1,8}"
                    r"Max slots: \d{1,4}\s{1,8}Num procs: (\d{1,4})"
                    r"|([\w.-]{1,80}) slots=(\d{1,4})(?: max[_-]slots=\d{1,4})?)\s{0,8}$")
# mpirun's own word that it maps by slot: `--map-by slot`, `--map-by ppr:8:node`, `-npernode 8`
# (n per node: by slot where every host has n slots)
_MAP_BY = re.compile(r"--map-by (?:slot|ppr:(\d{1,4}):node)\b|-{1,2}npernode[= ](\d{1,4})\b")
# what mpirun starts when its processes are launchers, not ranks (one per node)
_LAUNCHERS = ("torchrun", "torch.distributed", "deepspeed", "accelerate", "--nproc")


@dataclass
class Slots:
    """What the lines said so far about Open MPI's slots."""

    # hosts in rank order with their process counts, from a hostfile or Open MPI's map
    hosts: dict[str, int] = field(default_factory=dict)
    map_host: str | None = None  # the node of the `--display-map` entry being read
    # mpirun's command line maps by slot (0), or n per node (n); None if it does not say so
    map_by: int | None = None

    def read(self, content: str) -> tuple[int, str] | None:
        """A hostfile's or `--display-map`'s line; (rank, host) for a process the map lists
        under a node."""
        if "slots" in content and (m := _SLOTS.match(content)) and len(self.hosts) < MAX_PAIRS:
            self.hosts.setdefault(m.group(1) or m.group(3), int(m.group(2) or m.group(4)))
            self.map_host = m.group(1)
        if "OMPI jobid" in content and self.map_host and (m := _MAP_RANK.match(content)):
            return int(m.group(1)), self.map_host
        return None

    def mapping(self, content: str) -> None:
        """mpirun's own word on a line that it maps by slot (`--map-by slot`, `-npernode 8`),
        unless what it starts are launchers (`torchrun`, one per node): its ranks are nodes."""
        if ("--map-by" in content or "npernode" in content) and (m := _MAP_BY.search(content)):
            launchers = any(word in content for word in _LAUNCHERS)
            self.map_by = None if launchers else int(m.group(1) or m.group(2) or 0)

    def by_slot(self, known: dict[int, str]) -> dict[int, str]:
        """rank -> host by slot in host order (Open MPI's default mapping), where the lines
        that name a rank's host confirm it: one agrees and none disagrees. A `--map-by node`,
        `-npernode 4` or one torchrun per node maps otherwise, and its command line may not be
        in the paste; nor may a hostfile be the job's. With no such line, mpirun's own
        `--map-by slot` (or n per node on hosts of n slots) confirms it."""
        placed, first = {}, 0
        for host, count in self.hosts.items():
            if host != "localhost":
                placed.update(dict.fromkeys(range(first, first + count), host))
            first += count
        checks = [same_host(known[rank], host) for rank, host in placed.items()
                  if known.get(rank)]
        said = self.map_by is not None and all(  # mpirun's command line says so
            count == self.map_by or not self.map_by for count in self.hosts.values())
        return placed if (checks and all(checks)) or (said and not checks) else {}

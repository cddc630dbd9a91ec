"""NCCL's init lines of a communicator (`host:pid:tid [5] NCCL INFO comm 0x.. rank 13 nranks
16 .. busId ab000`): pid -> (rank, host) and (host, GPU bus id) -> rank of the biggest one seen,
the world communicator (a smaller communicator's ranks are not global ones). A kernel line's
PCI address (`Xid (PCI:0000:ab:00): 79`) then names the rank whose GPU it is.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .pairs import MAX_PAIRS, pair_rank

__all__ = ["NcclWorld"]

_NCCL_COMM = re.compile(r"\bcomm 0x[0-9a-f]{1,16} rank (\d{1,6}) nranks (\d{1,6})\b")
_BUS_ID = re.compile(r"\bbusId ([0-9a-f]{1,12})\b")
# a GPU's PCI address in a kernel line: `Xid (PCI:0000:ab:00): 79`, `GPU 0000:ab:00.0: GPU has ..`
_PCI = re.compile(r"(?:PCI:|GPU )([0-9a-fA-F]{4,8}):([0-9a-fA-F]{2}):([0-9a-fA-F]{2})"
                  r"(?:\.([0-7]))?\b")


@dataclass
class NcclWorld:
    """NCCL's init lines so far: the biggest communicator's members and their GPUs."""

    # NCCL communicator size -> pid -> (rank in it, host)
    comms: dict[int, dict[int, tuple[int, str]]] = field(default_factory=dict)
    # ... and its (host, GPU bus id: NCCL's `busId ab000`) -> rank in it
    buses: dict[tuple[str, int], int] = field(default_factory=dict)

    def read(self, content: str, pid: int, host: str) -> None:
        """A communicator's init line of process `pid` on `host`."""
        if m := _NCCL_COMM.search(content):
            size = int(m.group(2))
            biggest = max(self.comms, default=0)
            if size > biggest:  # only the biggest (the world's) is used: keep that one
                self.comms, self.buses = {size: {}}, {}
            comm = self.comms.get(size)
            if comm is not None and len(comm) < MAX_PAIRS:
                comm[pid] = (int(m.group(1)), host)
                if bus := _BUS_ID.search(content):
                    pair_rank(self.buses, (host, int(bus.group(1), 16)), int(m.group(1)))

    def world(self) -> dict[int, tuple[int, str]]:
        """pid -> (rank, host) of the biggest communicator seen (none: {})."""
        return self.comms[max(self.comms)] if self.comms else {}

    def rank_of_gpu(self, content: str, host: str) -> int | None:
        """The rank whose GPU a kernel line on `host` names by its PCI address (`Xid
        (PCI:0000:ab:00): 79`), from NCCL's init lines (`.. rank 37 nranks 64 .. busId ab000`)."""
        if not self.buses or (m := _PCI.search(content)) is None:
            return None
        domain, bus, device, function = m.groups()
        bus_id = int(domain + bus + device, 16) * 16 + int(function or 0)
        rank = self.buses.get((host, bus_id), -1)
        return rank if rank >= 0 else None

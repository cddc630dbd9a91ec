"""Barrier rendezvous over torch's TCPStore (ARCHITECTURE.md section 3).

Invariants: keys come from :mod:`resilience.keys`, records from :mod:`resilience.records`;
decisions (:mod:`.barrier`) are pure; only the leader's :class:`RoundCloser` closes rounds;
``shutdown`` is first-reason-wins and always wakes agents watching the next round.
"""

from resilience.rendezvous.barrier import BarrierConfig, assign_ranks, decide_close
from resilience.rendezvous.client import JoinResult, RendezvousClient
from resilience.rendezvous.closer import RoundCloser

__all__ = [
    "BarrierConfig",
    "JoinResult",
    "RendezvousClient",
    "RoundCloser",
    "assign_ranks",
    "decide_close",
]

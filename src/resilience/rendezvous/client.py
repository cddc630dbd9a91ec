"""The agent side of the barrier rendezvous: join a round, open the next, close the job.

Every agent (leader included) talks to the store only through :class:`RendezvousClient`.
"""

from __future__ import annotations

from dataclasses import dataclass

from resilience.errors import RendezvousGracefulExitError, RendezvousTimeoutError
from resilience.keys import Keys
from resilience.records import (
    Assignment,
    CloseRecord,
    OpenRecord,
    Participant,
    ShutdownReason,
    ShutdownRecord,
    decode,
    encode,
)
from resilience.store import Store

__all__ = ["JoinResult", "RendezvousClient"]


@dataclass(frozen=True)
class JoinResult:
    slot: int
    assignment: Assignment


class RendezvousClient:
    def __init__(self, store: Store, keys: Keys, node_id: str, join_timeout: float) -> None:
        self.store = store
        self.keys = keys
        self.node_id = node_id
        self.join_timeout = join_timeout

    # -- rounds ----------------------------------------------------------------------------
    def open_round(self, n: int, reason: str) -> None:
        """Open round n unless someone already did (first opener's record stays)."""
        self.store.compare_set(
            self.keys.round_open(n), "", encode(OpenRecord(opened_by=self.node_id, reason=reason))
        )

    def is_open(self, n: int) -> bool:
        """One store ``check``: the monitor tick's only store call."""
        return self.store.check([self.keys.round_open(n)])

    def join(self, n: int, me: Participant) -> JoinResult:
        """Join round n and block until the leader closes it.

        Raises RendezvousGracefulExitError when the job is closed, RendezvousTimeoutError when
        the round does not open or close within the join timeout.
        """
        if not self.store.wait([self.keys.round_open(n)], self.join_timeout):
            raise RendezvousTimeoutError(
                f"round {n} did not open within join_timeout={self.join_timeout:g}s"
            )
        self._raise_if_shutdown()
        slot = self.store.add(self.keys.round_joined(n), 1) - 1
        self.store.set(self.keys.round_slot(n, slot), encode(me))
        if not self.store.wait([self.keys.round_closed(n)], self.join_timeout):
            raise RendezvousTimeoutError(
                f"round {n} did not close within join_timeout={self.join_timeout:g}s "
                f"(is the leader at the rendezvous endpoint alive?)"
            )
        closed = decode(CloseRecord, self.store.get(self.keys.round_closed(n)))
        if closed.outcome != "assigned":
            self._raise_if_shutdown()
        return JoinResult(
            slot, decode(Assignment, self.store.get(self.keys.round_assignment(n, slot)))
        )

    # -- job end ---------------------------------------------------------------------------
    def read_shutdown(self) -> ShutdownRecord | None:
        key = self.keys.shutdown()
        if not self.store.check([key]):
            return None
        return decode(ShutdownRecord, self.store.get(key))

    def _raise_if_shutdown(self) -> None:
        record = self.read_shutdown()
        if record is not None:
            raise RendezvousGracefulExitError(record.reason.value, record.detail)

    def shutdown(self, reason: ShutdownReason, detail: str, cycle: int) -> ShutdownRecord:
        """Close the job for good; the first reason wins. Wakes every agent watching cycle+1."""
        mine = encode(ShutdownRecord(reason=reason, detail=detail, by=self.node_id))
        winner = self.store.compare_set(self.keys.shutdown(), "", mine)
        self.open_round(cycle + 1, f"job closed: {reason.value}")
        return decode(ShutdownRecord, winner)

    def report_success(self, cycle: int, active_nodes: int) -> bool:
        """Count this node's success; the last active node to succeed closes the job."""
        done = self.store.add(self.keys.cycle_succeeded(cycle), 1)
        if done >= active_nodes:
            self.shutdown(ShutdownReason.SUCCEEDED, f"all {active_nodes} nodes succeeded", cycle)
            return True
        return False

    def ack_exit(self) -> int:
        return self.store.add(self.keys.exit_acks(), 1)

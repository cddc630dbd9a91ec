"""The agent side of the barrier rendezvous: join a round, open the next, close the job.

Every agent (leader included) talks to the store only through :class:`RendezvousClient`.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from collections.abc import Set as AbstractSet
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
from resilience.store import Store, try_get

__all__ = ["JoinResult", "RendezvousClient"]


@dataclass(frozen=True)
class JoinResult:
    slot: int
    assignment: Assignment | None  # None: not active this round (spare, or joined too late)

    @property
    def active(self) -> bool:
        return self.assignment is not None and self.assignment.group_rank is not None


class RendezvousClient:
    def __init__(
        self,
        store: Store,
        keys: Keys,
        node_id: str,
        join_timeout: float,
        keep_alive_interval: float = 5.0,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store = store
        self.keys = keys
        self.node_id = node_id
        self.join_timeout = join_timeout
        self.keep_alive_interval = keep_alive_interval
        self.wall_clock = wall_clock

    # -- rounds ----------------------------------------------------------------------------
    def open_round(self, n: int, reason: str) -> None:
        """Open round n unless someone already did (first opener's record stays)."""
        self.store.compare_set(
            self.keys.round_open(n), "", encode(OpenRecord(opened_by=self.node_id, reason=reason))
        )

    def is_open(self, n: int) -> bool:
        """One store ``check``: the monitor tick's only store call."""
        return self.store.check([self.keys.round_open(n)])

    def first_round(self) -> int:
        """The round a starting agent joins: the latest open one, or the next if it closed."""
        latest = try_get(self.store, self.keys.latest_round())
        if latest is None:
            return 0
        n = int(latest)
        return n + 1 if self.store.check([self.keys.round_closed(n)]) else n

    def join(self, n: int, me: Participant) -> JoinResult:
        """Join round n and block until the leader closes it.

        Waiting for the round to *open* has no deadline (a hot spare waits for as long as the
        job trains; a closed job always opens the next round to wake it). While waiting for
        the *close*, the joiner renews a keep-alive lease so the leader can tell a node that
        died after joining from one that is merely waiting. Raises RendezvousGracefulExitError
        when the job is closed, RendezvousTimeoutError when the round does not close in time.
        """
        self.announce_waiting(n)  # again for a late joiner: a repeated id is harmless
        while not self.store.wait([self.keys.round_open(n)], 60.0):
            pass
        self._raise_if_shutdown()
        slot = self.store.add(self.keys.round_joined(n), 1) - 1
        self.store.multi_set(
            [self.keys.round_slot(n, slot), self.keys.round_alive(n, slot)],
            [encode(me), repr(self.wall_clock())],
        )
        deadline = time.monotonic() + self.join_timeout
        while not self.store.wait([self.keys.round_closed(n)], self.keep_alive_interval):
            if time.monotonic() > deadline:
                raise RendezvousTimeoutError(
                    f"round {n} did not close within join_timeout={self.join_timeout:g}s "
                    f"(is the leader at the rendezvous endpoint alive?)"
                )
            self.renew(n, slot)
        # One round trip per read: at 4,096 agents every call queues on the store's thread.
        closed = decode(CloseRecord, try_get(self.store, self.keys.round_closed(n)) or b"")
        if closed.outcome != "assigned":
            self._raise_if_shutdown()
        raw = try_get(self.store, self.keys.round_assignment(n, slot))
        if raw is None:  # joined after the close, or declared dead: wait for the next round
            return JoinResult(slot, None)
        return JoinResult(slot, decode(Assignment, raw))

    def announce_waiting(self, n: int) -> None:
        """Before waiting for round n to open: a spare or late joiner registers in its
        ``waiting`` key, so that if the job ends now the leader waits for this agent's exit ack
        (one ``check`` when the round is open already, as it is for every active agent)."""
        if not self.store.check([self.keys.round_open(n)]):
            self.store.append(self.keys.round_waiting(n), self.node_id + "\n")

    def renew(self, n: int, slot: int) -> None:
        """Renew this node's keep-alive lease for round n (any new value will do)."""
        self.store.set(self.keys.round_alive(n, slot), repr(self.wall_clock()))

    # -- job end ---------------------------------------------------------------------------
    def read_shutdown(self) -> ShutdownRecord | None:
        raw = try_get(self.store, self.keys.shutdown())
        return None if raw is None else decode(ShutdownRecord, raw)

    def read_verdict(self, cycle: int) -> str:
        """A one-line summary of the leader's verdict for a cycle, or '' if none."""
        raw = try_get(self.store, self.keys.cycle_verdict(cycle))
        if raw is None:
            return ""
        try:
            v = json.loads(raw)
            return f"{v['action']} {v['category']} by {v['source']}: {v['reason']}"[:200]
        except (ValueError, KeyError, TypeError):
            return "(unreadable verdict)"

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

    def ack_exit(self) -> None:
        self.store.set(self.keys.exit_ack(self.node_id), "1")

    def waiters(self, n: int) -> set[str]:
        """Node ids of the agents that waited for round n to open."""
        raw = try_get(self.store, self.keys.round_waiting(n))
        return {i for i in raw.decode().split("\n") if i} if raw else set()

    def acked(self, node_ids: AbstractSet[str]) -> bool:
        """True once every agent in ``node_ids`` has acked its exit."""
        return not node_ids or self.store.check([self.keys.exit_ack(i) for i in node_ids])

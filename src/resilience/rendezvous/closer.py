"""The leader's round closer: a thread that closes every round as soon as the barrier allows.

It runs beside the leader's own agent loop, so closing round n+1 never waits for the leader's
own workers to tear down. It also hosts each cycle's fresh worker store (see
docs/design/rendezvous.md: a new TCPStore per cycle means no stale gloo keys, pytorch#167288).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from resilience.errors import ResilienceError
from resilience.keys import Keys
from resilience.records import (
    CloseRecord,
    OpenRecord,
    Participant,
    ShutdownReason,
    ShutdownRecord,
    decode,
    encode,
)
from resilience.rendezvous.barrier import (
    BarrierConfig,
    CloseAction,
    RoundView,
    assign_ranks,
    build_assignments,
    choose_excluded,
    decide_close,
)
from resilience.rendezvous.liveness import LeaseTracker
from resilience.store import Store, TorchStore, try_get

__all__ = ["DecisionGate", "GateOutcome", "RoundCloser"]


class GateOutcome(Protocol):
    @property
    def stop(self) -> bool: ...
    @property
    def reason(self) -> str: ...
    @property
    def exclude_hosts(self) -> frozenset[str]: ...


class DecisionGate(Protocol):
    """What the closer needs from attribution (implemented in resilience.decide)."""

    def on_failure(self, cycle: int) -> None: ...
    def decide(self, cycle: int, joined: Sequence[Participant], now: float) -> GateOutcome | None:
        """None while the decision for ``cycle`` is not ready (bounded by its deadline)."""
        ...

    def poll_late(self) -> None: ...


log = logging.getLogger("resilience.rendezvous")


@dataclass
class _Progress:
    """What the closer remembers between rounds."""

    prev_ranks: dict[str, int] = field(default_factory=dict)
    last_ids: frozenset[str] = frozenset()  # every live joiner of the last assigned round
    last_round: int = -1  # the last assigned round
    dead_ids: frozenset[str] = frozenset()  # nodes whose keep-alive lease went stale
    # Set once, when the closer closes a round with `shutdown`: that round, and the ids of the
    # live joiners of it and of the last assigned round (one attribute: read by another thread).
    closed_job: tuple[int, frozenset[str]] | None = None
    active_slots: dict[int, str] = field(default_factory=dict)  # slot -> node of last close
    worker_stores: list[TorchStore] = field(default_factory=list)


class RoundCloser:
    def __init__(
        self,
        store: Store,
        keys: Keys,
        cfg: BarrierConfig,
        master_addr: str,
        make_worker_store: Callable[[], TorchStore],
        on_event: Callable[[str, dict[str, object]], None],
        gate: DecisionGate | None = None,
        leader_id: str = "",
        tick: float = 0.005,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
    ) -> None:
        self.store, self.keys, self.cfg = store, keys, cfg
        self.master_addr = master_addr
        self.make_worker_store = make_worker_store
        self.on_event = on_event
        self.gate = gate
        self.leader_id = leader_id  # the leader's own agent: never excluded
        self.tick, self.clock, self.wall_clock = tick, clock, wall_clock
        self.progress = _Progress()
        self.leases = LeaseTracker(cfg.keep_alive_timeout)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resilience-closer", daemon=True)

    def exit_roll(self) -> tuple[int, frozenset[str], frozenset[str]] | None:
        """Who must ack before the leader's store may go: None until the closer closed the job.

        The round closed with ``shutdown``, the node ids of the live joiners of it and of the
        last assigned round, and the ids of nodes found dead (not waited for); agents that only
        *waited* for that round to open (spares, late joiners) are in its ``waiting`` key
        (``RendezvousClient.waiters``). If the closer's thread died before closing the job, the
        last assigned round's joiners and the waiters of the round after it.
        """
        p = self.progress
        if p.closed_job is not None:
            return (*p.closed_job, p.dead_ids)
        if self._thread.ident is not None and not self._thread.is_alive():
            return p.last_round + 1, p.last_ids, p.dead_ids
        return None

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        n = 0
        try:
            while not self._stop.is_set():
                if not self._wait_open(n):
                    return
                if not self._close_round(n):
                    return
                n += 1
        except (ResilienceError, ValueError) as exc:
            # Never leave the agents waiting for a round nobody will close.
            log.error("round closer failed in round %d: %s", n, exc)
            detail = f"leader's round closer failed: {exc}"
            self._close_shutdown(n, {}, ShutdownReason.FAILED, detail)

    def _wait_open(self, n: int) -> bool:
        """Wait for round n to open; meanwhile watch the leases of cycle n-1's active nodes."""
        key = self.keys.round_open(n)
        interval = min(self.cfg.keep_alive_timeout / 3, 1.0)
        while not self._stop.is_set():
            if self.store.wait([key], interval):
                if n > 0 and self.gate is not None and self._shutdown() is None:
                    self.gate.on_failure(n - 1)
                return True
            if self.gate is not None:
                self.gate.poll_late()
            lost = self._poll_leases(n - 1, self.progress.active_slots)
            if lost:
                self.progress.dead_ids |= set(lost)
                detail = f"no keep-alive for more than {self.cfg.keep_alive_timeout:g}s"
                self.on_event("node_dead", {"round": n - 1, "node": lost[0], "reason": detail})
                opened = OpenRecord(opened_by="leader", reason=f"node {lost[0]} lost: {detail}")
                self.store.compare_set(key, "", encode(opened))
        return False

    def _poll_leases(self, n: int, slots: dict[int, str]) -> list[str]:
        """Read the leases of ``slots`` of round n; node ids whose lease went stale."""
        if n < 0 or not slots:
            return []
        order = sorted(slots)
        now = self.clock()
        for i, raw in zip(
            order, self.store.multi_get([self.keys.round_alive(n, i) for i in order]), strict=True
        ):
            self.leases.observe(i, raw, now)
        return [slots[i] for i in self.leases.stale(order, now)]

    def _close_round(self, n: int) -> bool:
        """Close round n; False when the job is over."""
        self.store.set(self.keys.latest_round(), str(n))
        self.leases = LeaseTracker(self.cfg.keep_alive_timeout)
        opened_at, min_reached_at, next_lease_poll = self.clock(), None, 0.0
        slots: dict[int, Participant] = {}  # live joiners by slot
        seen = 0
        while not self._stop.is_set():
            joined = self.store.add(self.keys.round_joined(n), 0)
            if joined > seen:
                slots.update(self._read_slots(n, seen, joined))
                seen = joined
            now = self.clock()
            if now >= next_lease_poll:
                self._poll_leases(n, {i: p.node_id for i, p in slots.items()})
                next_lease_poll = now + self.cfg.keep_alive_timeout / 3
            if min_reached_at is None and len(slots) >= self.cfg.min_nodes:
                min_reached_at = now
            decision = decide_close(self._view(n, slots, opened_at, min_reached_at), now, self.cfg)
            if decision.action is CloseAction.WAIT:
                self._stop.wait(self.tick)
                continue
            if decision.action is CloseAction.CLOSE and self._drop_dead(n, slots, now):
                min_reached_at = now if len(slots) >= self.cfg.min_nodes else None
                continue
            exclude: frozenset[str] = frozenset()
            if decision.action is CloseAction.CLOSE and n > 0 and self.gate is not None:
                outcome = self.gate.decide(n - 1, list(slots.values()), now)
                if outcome is None:  # verdicts pending, deadline not reached
                    self._stop.wait(self.tick)
                    continue
                if outcome.stop:
                    self._close_shutdown(n, slots, ShutdownReason.STOPPED, outcome.reason)
                    return False
                exclude = outcome.exclude_hosts
            if decision.action is CloseAction.SHUTDOWN:
                reason = decision.shutdown or ShutdownReason.FAILED
                self._close_shutdown(n, slots, reason, decision.reason)
                return False
            self._close_assigned(n, slots, decision.reason, exclude)
            return True
        return False

    def _view(
        self, n: int, slots: dict[int, Participant], opened_at: float, min_at: float | None
    ) -> RoundView:
        return RoundView(
            round=n,
            joined=len(slots),
            opened_at=opened_at,
            min_reached_at=min_at,
            prev_active=frozenset(self.progress.prev_ranks),
            joined_ids=frozenset(p.node_id for p in slots.values()),
            shutdown=self._shutdown(),
        )

    def _drop_dead(self, n: int, slots: dict[int, Participant], now: float) -> bool:
        """Remove joiners whose keep-alive lease went stale; True if any was removed."""
        dead = self.leases.stale(sorted(slots), now)
        for i in dead:
            node = slots.pop(i).node_id
            self.progress.dead_ids |= {node}
            reason = f"no keep-alive for {self.leases.silent_for(i, now):.1f}s"
            self.on_event("node_dead", {"round": n, "node": node, "reason": reason})
        return bool(dead)

    def _read_slots(self, n: int, start: int, stop: int) -> dict[int, Participant]:
        keys = [self.keys.round_slot(n, i) for i in range(start, stop)]
        # A joiner adds before it writes its slot; wait for the write to land.
        if not self.store.wait(keys, self.cfg.join_timeout):
            raise ResilienceError(f"round {n}: slots {start}..{stop - 1} were never written")
        raws = self.store.multi_get(keys)
        return {start + i: decode(Participant, raw) for i, raw in enumerate(raws)}

    def _shutdown(self) -> ShutdownRecord | None:
        key = self.keys.shutdown()
        raw = try_get(self.store, key)
        return None if raw is None else decode(ShutdownRecord, raw)

    def _close_shutdown(
        self, n: int, slots: dict[int, Participant], reason: ShutdownReason, detail: str
    ) -> None:
        # Everyone of the last closed round and of this one must read the outcome.
        ids = self.progress.last_ids | {p.node_id for p in slots.values()}
        ids -= self.progress.dead_ids
        record = ShutdownRecord(reason=reason, detail=detail, by="leader")
        self.store.compare_set(self.keys.shutdown(), "", encode(record))
        wake = OpenRecord(opened_by="leader", reason=f"job closed: {reason.value}")
        self.store.compare_set(self.keys.round_open(n + 1), "", encode(wake))
        self.store.set(
            self.keys.round_closed(n),
            encode(CloseRecord(outcome="shutdown", participants=len(ids))),
        )
        self.progress.closed_job = (n, frozenset(ids))
        self.on_event("round_closed", {"round": n, "outcome": "shutdown", "reason": detail})

    def _close_assigned(
        self, n: int, slots: dict[int, Participant], reason: str, exclude: frozenset[str]
    ) -> None:
        excluded, why = choose_excluded(slots, exclude, self.cfg.min_nodes, self.leader_id)
        if exclude:
            kind = "excluded" if excluded else "exclude_skipped"
            self.on_event(kind, {"round": n, "hosts": sorted(exclude), "reason": why})
        order = sorted(i for i in slots if i not in excluded)
        participants = [slots[i] for i in order]
        ranks = assign_ranks(participants, self.cfg.min_nodes, self.progress.prev_ranks)
        worker_store = self.make_worker_store()
        self.progress.worker_stores = [*self.progress.worker_stores[-1:], worker_store]
        records = build_assignments(
            participants, ranks, n, self.master_addr, worker_store.port, len(excluded)
        )
        self.store.multi_set(
            [self.keys.round_assignment(n, i) for i in [*order, *sorted(excluded)]],
            [encode(a) for a in records],
        )
        active = {
            i: (p, r) for i, p, r in zip(order, participants, ranks, strict=True) if r is not None
        }
        self.progress.prev_ranks = {p.node_id: r for p, r in active.values()}
        self.progress.active_slots = {i: p.node_id for i, (p, _) in active.items()}
        self.progress.last_ids = frozenset(p.node_id for p in slots.values())  # excluded ack too
        self.progress.last_round = n
        closed = CloseRecord(outcome="assigned", participants=len(participants))
        self.store.set(self.keys.round_closed(n), encode(closed))
        spares = len(participants) - len(active)
        self.on_event(
            "round_closed",
            {
                "round": n,
                "outcome": "assigned",
                "reason": reason,
                "active": len(active),
                "spares": spares,
            },
        )

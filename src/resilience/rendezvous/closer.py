"""The leader's round closer: a thread that closes every round as soon as the barrier allows.

It runs beside the leader's own agent loop, so closing round n+1 never waits for the leader's
own workers to tear down. It also hosts each cycle's fresh worker store (see
docs/design/rendezvous.md: a new TCPStore per cycle means no stale gloo keys, pytorch#167288).
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from resilience.errors import ResilienceError
from resilience.keys import Keys
from resilience.records import (
    Assignment,
    CloseRecord,
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
    decide_close,
)
from resilience.store import Store, TorchStore

__all__ = ["RoundCloser"]

log = logging.getLogger("resilience.rendezvous")


@dataclass
class _Progress:
    """What the closer remembers between rounds."""

    prev_ranks: dict[str, int] = field(default_factory=dict)
    last_joined: int = 0
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
        tick: float = 0.005,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.keys, self.cfg = store, keys, cfg
        self.master_addr = master_addr
        self.make_worker_store = make_worker_store
        self.on_event = on_event
        self.tick, self.clock = tick, clock
        self.progress = _Progress()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="resilience-closer", daemon=True)

    @property
    def participants_last_round(self) -> int:
        return self.progress.last_joined

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
        except ResilienceError as exc:
            log.error("round closer stopped: %s", exc)

    def _wait_open(self, n: int) -> bool:
        key = self.keys.round_open(n)
        while not self._stop.is_set():
            if self.store.wait([key], 0.5):
                return True
        return False

    def _close_round(self, n: int) -> bool:
        """Close round n; False when the job is over."""
        opened_at, min_reached_at = self.clock(), None
        participants: list[Participant] = []
        while not self._stop.is_set():
            joined = self.store.add(self.keys.round_joined(n), 0)
            if joined > len(participants):
                participants += self._read_slots(n, len(participants), joined)
            now = self.clock()
            if min_reached_at is None and len(participants) >= self.cfg.min_nodes:
                min_reached_at = now
            view = RoundView(
                round=n,
                joined=len(participants),
                opened_at=opened_at,
                min_reached_at=min_reached_at,
                prev_active=frozenset(self.progress.prev_ranks),
                joined_ids=frozenset(p.node_id for p in participants),
                shutdown=self._shutdown(),
            )
            decision = decide_close(view, now, self.cfg)
            if decision.action is CloseAction.WAIT:
                self._stop.wait(self.tick)
                continue
            # Agents of the last closed round still have to read the outcome (exit barrier).
            self.progress.last_joined = max(joined, self.progress.last_joined)
            if decision.action is CloseAction.SHUTDOWN:
                self._close_shutdown(n, decision.shutdown or ShutdownReason.FAILED, decision.reason)
                return False
            self._close_assigned(n, participants, decision.reason)
            return True
        return False

    def _read_slots(self, n: int, start: int, stop: int) -> list[Participant]:
        keys = [self.keys.round_slot(n, i) for i in range(start, stop)]
        # A joiner adds before it writes its slot; wait briefly for the write to land.
        if not self.store.wait(keys, self.cfg.join_timeout):
            raise ResilienceError(f"round {n}: slots {start}..{stop - 1} were never written")
        return [decode(Participant, raw) for raw in self.store.multi_get(keys)]

    def _shutdown(self) -> ShutdownRecord | None:
        key = self.keys.shutdown()
        return decode(ShutdownRecord, self.store.get(key)) if self.store.check([key]) else None

    def _close_shutdown(self, n: int, reason: ShutdownReason, detail: str) -> None:
        record = ShutdownRecord(reason=reason, detail=detail, by="leader")
        self.store.compare_set(self.keys.shutdown(), "", encode(record))
        self.store.compare_set(
            self.keys.round_open(n + 1), "", '{"opened_by":"leader","reason":"shutdown"}'
        )
        self.store.set(
            self.keys.round_closed(n),
            encode(CloseRecord(outcome="shutdown", participants=self.progress.last_joined)),
        )
        self.on_event("round_closed", {"round": n, "outcome": "shutdown", "reason": detail})

    def _close_assigned(self, n: int, participants: list[Participant], reason: str) -> None:
        ranks = assign_ranks(participants, self.cfg.min_nodes, self.progress.prev_ranks)
        active = sorted((r, p) for r, p in zip(ranks, participants, strict=True) if r is not None)
        offsets, total = {}, 0
        for rank, p in active:
            offsets[rank], total = total, total + p.local_world_size
        worker_store = self.make_worker_store()
        self.progress.worker_stores = [*self.progress.worker_stores[-1:], worker_store]
        records = [
            Assignment(
                cycle_id=n,
                group_rank=r,
                group_world_size=len(active),
                rank_offset=offsets.get(r, 0) if r is not None else 0,
                world_size=total,
                master_addr=self.master_addr,
                master_port=worker_store.port,
                restart_count=n,
            )
            for r in ranks
        ]
        self.store.multi_set(
            [self.keys.round_assignment(n, i) for i in range(len(records))],
            [encode(a) for a in records],
        )
        self.progress.prev_ranks = {p.node_id: r for r, p in active}
        self.store.set(
            self.keys.round_closed(n),
            encode(CloseRecord(outcome="assigned", participants=len(participants))),
        )
        self.on_event(
            "round_closed",
            {
                "round": n,
                "outcome": "assigned",
                "reason": reason,
                "active": len(active),
                "spares": len(participants) - len(active),
            },
        )

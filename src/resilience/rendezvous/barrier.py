"""Pure decisions of the barrier rendezvous: when to close a round, and who gets which rank.

Nothing here touches the store or the clock; the closer passes ``now`` in. Every decision
carries a human-readable reason that becomes the log line and the test assertion.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import Enum

from resilience.hostnames import same_host
from resilience.records import Assignment, Participant, ShutdownReason, ShutdownRecord

__all__ = [
    "BarrierConfig",
    "CloseAction",
    "CloseDecision",
    "RoundView",
    "assign_ranks",
    "build_assignments",
    "choose_excluded",
    "decide_close",
]


@dataclass(frozen=True)
class BarrierConfig:
    min_nodes: int
    max_nodes: int
    max_restarts: int
    join_timeout: float
    last_call_timeout: float
    keep_alive_timeout: float = 30.0


@dataclass(frozen=True)
class RoundView:
    """What the closer observed of round ``round`` at one instant."""

    round: int
    joined: int
    opened_at: float  # monotonic time the closer first saw the round open
    min_reached_at: float | None  # monotonic time joined first reached min_nodes
    prev_active: frozenset[str]  # node ids active in the previous cycle
    joined_ids: frozenset[str]
    shutdown: ShutdownRecord | None


class CloseAction(str, Enum):
    WAIT = "wait"
    CLOSE = "close"
    SHUTDOWN = "shutdown"


@dataclass(frozen=True)
class CloseDecision:
    action: CloseAction
    reason: str
    shutdown: ShutdownReason | None = None


def decide_close(view: RoundView, now: float, cfg: BarrierConfig) -> CloseDecision:
    if view.shutdown is not None:
        return CloseDecision(
            CloseAction.SHUTDOWN, f"job closed: {view.shutdown.reason.value}", view.shutdown.reason
        )
    if view.round > cfg.max_restarts:
        return CloseDecision(
            CloseAction.SHUTDOWN,
            f"round {view.round} would be restart {view.round} but --max-restarts is "
            f"{cfg.max_restarts}",
            ShutdownReason.RESTARTS_EXHAUSTED,
        )
    if view.joined >= cfg.max_nodes:
        return CloseDecision(
            CloseAction.CLOSE, f"all {cfg.max_nodes} nodes joined round {view.round}"
        )
    if view.joined >= cfg.min_nodes:
        survivors_back = view.prev_active and view.prev_active <= view.joined_ids
        if survivors_back:
            return CloseDecision(
                CloseAction.CLOSE,
                f"{view.joined} nodes joined round {view.round}; "
                "every previously active node is back",
            )
        waited = now - (view.min_reached_at if view.min_reached_at is not None else now)
        if waited >= cfg.last_call_timeout:
            return CloseDecision(
                CloseAction.CLOSE,
                f"{view.joined} nodes joined round {view.round} (>= min {cfg.min_nodes}) and the "
                f"last call of {cfg.last_call_timeout:g}s is over",
            )
        return CloseDecision(CloseAction.WAIT, "in the last-call window")
    if now - view.opened_at >= cfg.join_timeout:
        return CloseDecision(
            CloseAction.SHUTDOWN,
            f"only {view.joined} of the {cfg.min_nodes} required nodes joined round "
            f"{view.round} within join_timeout={cfg.join_timeout:g}s",
            ShutdownReason.FAILED,
        )
    return CloseDecision(CloseAction.WAIT, f"{view.joined}/{cfg.min_nodes} nodes joined")


def assign_ranks(
    participants: Sequence[Participant], min_nodes: int, prev_ranks: Mapping[str, int]
) -> list[int | None]:
    """Group rank per participant (same order), ``None`` for spares.

    Ranks 0..min(len, min_nodes)-1 are given exactly once. Survivors keep their previous rank;
    the free ranks go to the others ordered by (static node-rank hint, host, node id), so the
    result does not depend on join order.
    """
    n_active = min(len(participants), min_nodes)
    ranks: list[int | None] = [None] * len(participants)
    taken: set[int] = set()
    by_id = {p.node_id: i for i, p in enumerate(participants)}
    for node_id, rank in sorted(prev_ranks.items(), key=lambda kv: kv[1]):
        i = by_id.get(node_id)
        if i is not None and rank < n_active and rank not in taken:
            ranks[i] = rank
            taken.add(rank)
    hinted = [
        i
        for i, p in enumerate(participants)
        if ranks[i] is None
        and p.node_rank_hint is not None
        and p.node_rank_hint < n_active
        and p.node_rank_hint not in taken
    ]
    for i in sorted(hinted, key=lambda i: _order_key(participants[i])):
        hint = participants[i].node_rank_hint
        if hint is not None and hint not in taken:
            ranks[i] = hint
            taken.add(hint)
    free = iter(r for r in range(n_active) if r not in taken)
    rest = sorted(
        (i for i in range(len(participants)) if ranks[i] is None),
        key=lambda i: _order_key(participants[i]),
    )
    for i in rest:
        ranks[i] = next(free, None)
    return ranks


def _order_key(p: Participant) -> tuple[float, str, str]:
    hint = math.inf if p.node_rank_hint is None else float(p.node_rank_hint)
    return (hint, p.host, p.node_id)


def choose_excluded(
    slots: Mapping[int, Participant], hosts: frozenset[str], min_nodes: int, keep: str = ""
) -> tuple[set[int], str]:
    """Slots on blamed hosts to exclude, unless that would leave fewer than ``min_nodes``.

    A blamed name matches a host by its short or fully qualified form (``same_host``). Never
    the agent ``keep`` (the leader's: its process hosts the rendezvous store, so its exit would
    end the job for every node).
    """
    blamed = {i for i, p in slots.items() if any(same_host(p.host, h) for h in hosts)}
    kept = any(slots[i].node_id == keep for i in blamed)
    blamed = {i for i in blamed if slots[i].node_id != keep}
    left = len(slots) - len(blamed)
    if blamed and left < min_nodes:
        return set(), f"only {left} nodes would be left, min is {min_nodes}"
    if kept and not blamed:
        return set(), "the leader's node hosts the rendezvous store"
    stays = "; the leader's node stays (it hosts the rendezvous store)" if kept else ""
    return blamed, "attribution blamed their hardware" + stays


def build_assignments(
    participants: Sequence[Participant],
    ranks: Sequence[int | None],
    cycle: int,
    master_addr: str,
    master_port: int,
    n_excluded: int,
) -> list[Assignment]:
    """One record per participant (same order), then ``n_excluded`` 'excluded' records.

    Global ranks are prefix sums of the active nodes' local world sizes in group-rank order.
    """
    active = sorted(
        (r, p.local_world_size) for r, p in zip(ranks, participants, strict=True) if r is not None
    )
    offsets, total = {}, 0
    for rank, size in active:
        offsets[rank], total = total, total + size

    def record(rank: int | None, excluded: bool = False) -> Assignment:
        return Assignment(
            cycle_id=cycle,
            group_rank=rank,
            group_world_size=len(active),
            rank_offset=offsets.get(rank, 0) if rank is not None else 0,
            world_size=total,
            master_addr=master_addr,
            master_port=master_port,
            restart_count=cycle,
            excluded=excluded,
        )

    return [*(record(r) for r in ranks), *(record(None, True) for _ in range(n_excluded))]

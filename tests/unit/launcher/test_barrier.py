"""The barrier's pure core: who gets which group rank, and when a round may close."""

from __future__ import annotations

import random

import pytest
from hypothesis import given
from hypothesis import strategies as st

from resilience.records import Participant, ShutdownReason, ShutdownRecord
from resilience.rendezvous.barrier import (
    BarrierConfig,
    CloseAction,
    CloseDecision,
    RoundView,
    assign_ranks,
    decide_close,
)

# -- assign_ranks ---------------------------------------------------------------------------

HOSTS = ["node-a", "node-b", "node-c"]


def _participant(node_id: str, host: str, hint: int | None = None) -> Participant:
    return Participant(node_id=node_id, host=host, pid=1, local_world_size=2, node_rank_hint=hint)


@st.composite
def participants(draw: st.DrawFn, max_size: int = 8) -> list[Participant]:
    """Distinct node ids; hosts may repeat (several agents per host), hints may repeat."""
    ids = draw(st.lists(st.integers(0, 50), min_size=0, max_size=max_size, unique=True))
    return [
        _participant(
            f"n{i}",
            draw(st.sampled_from(HOSTS)),
            draw(st.none() | st.integers(0, max_size)),
        )
        for i in ids
    ]


def _mapping(ps: list[Participant], ranks: list[int | None]) -> dict[str, int | None]:
    assert len(ranks) == len(ps)
    return {p.node_id: r for p, r in zip(ps, ranks, strict=True)}


@given(ps=participants(), min_nodes=st.integers(1, 10))
def test_ranks_are_a_permutation_of_the_active_range_and_the_rest_are_spares(
    ps: list[Participant], min_nodes: int
) -> None:
    ranks = assign_ranks(ps, min_nodes, {})
    n_active = min(len(ps), min_nodes)
    given_ranks = [r for r in ranks if r is not None]
    # every rank 0..n_active-1 exactly once, nothing else, one value per participant
    assert sorted(given_ranks) == list(range(n_active))
    assert ranks.count(None) == len(ps) - n_active


@st.composite
def round_with_history(
    draw: st.DrawFn,
) -> tuple[list[Participant], int, dict[str, int]]:
    ps = draw(participants())
    min_nodes = draw(st.integers(1, 8))
    # previous cycle: some of today's participants plus some nodes that are gone, each with a
    # distinct previous rank (as the closer records them)
    gone = [f"gone{i}" for i in range(draw(st.integers(0, 3)))]
    pool = [p.node_id for p in ps] + gone
    prev_ids = draw(st.lists(st.sampled_from(pool), unique=True)) if pool else []
    prev_rank_values = draw(st.permutations(range(max(len(prev_ids), 1))))
    prev = {node: prev_rank_values[i] for i, node in enumerate(prev_ids)}
    return ps, min_nodes, prev


@given(data=round_with_history(), seed=st.randoms(use_true_random=False))
def test_mapping_does_not_depend_on_join_order(
    data: tuple[list[Participant], int, dict[str, int]], seed: random.Random
) -> None:
    ps, min_nodes, prev = data
    shuffled = list(ps)
    seed.shuffle(shuffled)
    assert _mapping(ps, assign_ranks(ps, min_nodes, prev)) == _mapping(
        shuffled, assign_ranks(shuffled, min_nodes, prev)
    )


@given(data=round_with_history())
def test_survivors_keep_their_rank_and_the_result_is_still_a_permutation(
    data: tuple[list[Participant], int, dict[str, int]],
) -> None:
    ps, min_nodes, prev = data
    ranks = assign_ranks(ps, min_nodes, prev)
    n_active = min(len(ps), min_nodes)
    mapping = _mapping(ps, ranks)
    for node_id, old_rank in prev.items():
        if node_id in mapping and old_rank < n_active:
            assert mapping[node_id] == old_rank, f"survivor {node_id} lost rank {old_rank}"
    assert sorted(r for r in ranks if r is not None) == list(range(n_active))


@st.composite
def hinted_round(draw: st.DrawFn) -> tuple[list[Participant], int]:
    """At least min_nodes nodes; distinct hints below min_nodes on some, the rest unhinted."""
    min_nodes = draw(st.integers(1, 8))
    hints = draw(st.lists(st.integers(0, min_nodes - 1), unique=True))
    missing = min_nodes - len(hints)
    unhinted = draw(st.integers(missing, missing + 3))
    ps = [_participant(f"h{h}", draw(st.sampled_from(HOSTS)), h) for h in hints]
    ps += [_participant(f"u{i}", draw(st.sampled_from(HOSTS))) for i in range(unhinted)]
    return draw(st.permutations(ps)), min_nodes


@given(data=hinted_round())
def test_distinct_static_hints_are_respected(data: tuple[list[Participant], int]) -> None:
    ps, min_nodes = data
    ranks = assign_ranks(ps, min_nodes, {})
    for p, rank in zip(ps, ranks, strict=True):
        if p.node_rank_hint is not None:
            assert rank == p.node_rank_hint, f"{p.node_id} hinted {p.node_rank_hint} got {rank}"
    assert sorted(r for r in ranks if r is not None) == list(range(min_nodes))


def test_a_hint_is_kept_even_when_unhinted_nodes_sort_first() -> None:
    ps = [_participant("a", "node-a"), _participant("b", "node-a"), _participant("z", "node-z", 0)]
    assert _mapping(ps, assign_ranks(ps, 2, {})) == {"z": 0, "a": 1, "b": None}


def test_free_ranks_follow_host_then_node_id_not_join_order() -> None:
    ps = [
        _participant("z", "node-b"),
        _participant("y", "node-a"),
        _participant("a", "node-b"),
        _participant("b", "node-c"),
    ]
    assert _mapping(ps, assign_ranks(ps, 3, {})) == {"y": 0, "a": 1, "z": 2, "b": None}


def test_a_spare_takes_the_rank_of_the_node_that_did_not_come_back() -> None:
    prev = {"a": 0, "b": 1, "c": 2}
    ps = [_participant("spare", "node-z"), _participant("b", "h"), _participant("a", "h")]
    assert _mapping(ps, assign_ranks(ps, 3, prev)) == {"a": 0, "b": 1, "spare": 2}


def test_survivor_rank_beats_a_conflicting_hint() -> None:
    prev = {"old": 0}
    ps = [_participant("new", "h", hint=0), _participant("old", "h", hint=1)]
    assert _mapping(ps, assign_ranks(ps, 2, prev)) == {"old": 0, "new": 1}


# -- decide_close ---------------------------------------------------------------------------

CFG = BarrierConfig(
    min_nodes=2, max_nodes=4, max_restarts=3, join_timeout=60.0, last_call_timeout=10.0
)


def _view(
    *,
    round: int = 1,
    joined: list[str] | None = None,
    opened_at: float = 0.0,
    min_reached_at: float | None = None,
    prev_active: set[str] | None = None,
    shutdown: ShutdownRecord | None = None,
) -> RoundView:
    ids = joined or []
    return RoundView(
        round=round,
        joined=len(ids),
        opened_at=opened_at,
        min_reached_at=min_reached_at,
        prev_active=frozenset(prev_active or ()),
        joined_ids=frozenset(ids),
        shutdown=shutdown,
    )


STOPPED = ShutdownRecord(reason=ShutdownReason.STOPPED, detail="oom", by="n0")

CASES: list[tuple[str, RoundView, float, CloseDecision]] = [
    (
        "shutdown wins over everything, even a full round past the budget",
        _view(round=9, joined=["a", "b", "c", "d"], shutdown=STOPPED),
        1000.0,
        CloseDecision(CloseAction.SHUTDOWN, "job closed: stopped", ShutdownReason.STOPPED),
    ),
    (
        "round past --max-restarts",
        _view(round=4, joined=["a", "b", "c", "d"]),
        0.0,
        CloseDecision(
            CloseAction.SHUTDOWN,
            "round 4 would be restart 4 but --max-restarts is 3",
            ShutdownReason.RESTARTS_EXHAUSTED,
        ),
    ),
    (
        "the last allowed restart still closes",
        _view(round=3, joined=["a", "b", "c", "d"]),
        0.0,
        CloseDecision(CloseAction.CLOSE, "all 4 nodes joined round 3"),
    ),
    (
        "max nodes joined",
        _view(round=0, joined=["a", "b", "c", "d"], min_reached_at=0.0),
        0.0,
        CloseDecision(CloseAction.CLOSE, "all 4 nodes joined round 0"),
    ),
    (
        "min joined and every previously active node is back",
        _view(joined=["a", "b"], min_reached_at=5.0, prev_active={"a", "b"}),
        5.0,
        CloseDecision(
            CloseAction.CLOSE, "2 nodes joined round 1; every previously active node is back"
        ),
    ),
    (
        "min joined, a previously active node missing, last call still running",
        _view(joined=["a", "spare"], min_reached_at=5.0, prev_active={"a", "b"}),
        14.9,
        CloseDecision(CloseAction.WAIT, "in the last-call window"),
    ),
    (
        "min joined, a previously active node missing, last call over",
        _view(joined=["a", "spare", "x"], min_reached_at=5.0, prev_active={"a", "b"}),
        15.0,
        CloseDecision(
            CloseAction.CLOSE,
            "3 nodes joined round 1 (>= min 2) and the last call of 10s is over",
        ),
    ),
    (
        "round 0 has no previous active set: min joined waits for the last call",
        _view(round=0, joined=["a", "b"], min_reached_at=0.0),
        9.0,
        CloseDecision(CloseAction.WAIT, "in the last-call window"),
    ),
    (
        "below min within the join timeout",
        _view(joined=["a"], opened_at=100.0),
        159.0,
        CloseDecision(CloseAction.WAIT, "1/2 nodes joined"),
    ),
    (
        "below min after the join timeout",
        _view(joined=["a"], opened_at=100.0),
        160.0,
        CloseDecision(
            CloseAction.SHUTDOWN,
            "only 1 of the 2 required nodes joined round 1 within join_timeout=60s",
            ShutdownReason.FAILED,
        ),
    ),
    (
        "nobody joined after the join timeout",
        _view(round=0, joined=[], opened_at=0.0),
        61.0,
        CloseDecision(
            CloseAction.SHUTDOWN,
            "only 0 of the 2 required nodes joined round 0 within join_timeout=60s",
            ShutdownReason.FAILED,
        ),
    ),
]


@pytest.mark.parametrize(
    ("view", "now", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide_close_table(view: RoundView, now: float, expected: CloseDecision) -> None:
    assert decide_close(view, now, CFG) == expected


def test_last_call_zero_closes_as_soon_as_min_is_reached() -> None:
    cfg = BarrierConfig(
        min_nodes=2, max_nodes=4, max_restarts=3, join_timeout=60.0, last_call_timeout=0.0
    )
    decision = decide_close(_view(round=0, joined=["a", "b"], min_reached_at=7.0), 7.0, cfg)
    assert decision.action is CloseAction.CLOSE
    assert decision.reason == "2 nodes joined round 0 (>= min 2) and the last call of 0s is over"

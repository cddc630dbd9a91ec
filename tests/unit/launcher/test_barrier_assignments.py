"""Pure pieces of a round close: which blamed nodes to exclude, and the assignment records."""

from __future__ import annotations

from resilience.records import Participant
from resilience.rendezvous.barrier import build_assignments, choose_excluded


def _p(host: str, size: int = 2) -> Participant:
    return Participant(node_id=f"{host}_1", host=host, pid=1, local_world_size=size)


def test_blamed_host_is_excluded_when_enough_nodes_remain() -> None:
    slots = {0: _p("a"), 1: _p("b"), 2: _p("c")}
    assert choose_excluded(slots, frozenset({"b"}), min_nodes=2) == (
        {1}, "attribution blamed their hardware")


def test_the_leaders_own_node_is_never_excluded() -> None:
    # its process hosts the rendezvous store: its exit would end the job for every node
    slots = {0: _p("a"), 1: _p("b"), 2: _p("c")}
    lead = slots[0].node_id
    assert choose_excluded(slots, frozenset({"a"}), min_nodes=2, keep=lead) == (
        set(), "the leader's node hosts the rendezvous store")
    assert choose_excluded(slots, frozenset({"a", "b"}), min_nodes=1, keep=lead) == (
        {1}, "attribution blamed their hardware; the leader's node stays (it hosts the "
        "rendezvous store)")


def test_a_blamed_short_name_excludes_the_node_registered_by_its_fqdn() -> None:
    # gethostname() gives the FQDN on some systems; logs and LLM answers use the short name
    slots = {0: _p("a.cluster.local"), 1: _p("gpu-07.cluster.local"), 2: _p("10.0.0.7")}
    assert choose_excluded(slots, frozenset({"GPU-07"}), min_nodes=1)[0] == {1}
    assert choose_excluded(slots, frozenset({"gpu-07.cluster"}), min_nodes=1)[0] == {1}
    # the same short name in another domain is another node (zones, clusters)
    assert choose_excluded(slots, frozenset({"gpu-07.other.net"}), min_nodes=1)[0] == set()
    assert choose_excluded(slots, frozenset({"gpu-0"}), min_nodes=1)[0] == set()
    assert choose_excluded(slots, frozenset({"10.0.0.70"}), min_nodes=1)[0] == set()  # no IP prefix
    assert choose_excluded(slots, frozenset({"10.0.0.7"}), min_nodes=1)[0] == {2}


def test_no_exclusion_below_min_nodes() -> None:
    slots = {0: _p("a"), 1: _p("b")}
    assert choose_excluded(slots, frozenset({"b"}), min_nodes=2) == (
        set(), "only 1 nodes would be left, min is 2")


def test_records_have_prefix_sum_offsets_spares_and_excluded() -> None:
    parts = [_p("a", 4), _p("b", 2), _p("c", 8)]
    records = build_assignments(parts, [1, None, 0], cycle=3, master_addr="h", master_port=7,
                                n_excluded=1)
    a, b, c, gone = records
    assert (c.group_rank, c.rank_offset) == (0, 0)
    assert (a.group_rank, a.rank_offset) == (1, 8)
    assert b.group_rank is None and not b.excluded
    assert gone.excluded and gone.group_rank is None
    assert {r.world_size for r in records} == {12}
    assert {r.group_world_size for r in records} == {2}
    assert {(r.cycle_id, r.restart_count, r.master_port) for r in records} == {(3, 3, 7)}

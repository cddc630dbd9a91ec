"""One contract for the in-memory fake and the real TCPStore, plus the wire records."""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator

import pytest

from resilience.errors import RendezvousError
from resilience.keys import Keys
from resilience.records import (
    Assignment,
    CloseRecord,
    FailureRecord,
    OpenRecord,
    Participant,
    ShutdownReason,
    ShutdownRecord,
    WorkerExit,
    decode,
    encode,
)
from resilience.store import (
    MemoryStore,
    Store,
    TorchStore,
    connect_store,
    host_store,
    try_get,
)

# -- stores ---------------------------------------------------------------------------------

Pair = tuple[Store, Store]  # two connections to the same store (the same object for the fake)


@pytest.fixture(scope="module")
def tcp_pair() -> Iterator[tuple[TorchStore, TorchStore]]:
    """ONE server and ONE extra client for the whole module: new connections are slow here."""
    server = host_store("127.0.0.1", 0, timeout=10)
    client = connect_store("127.0.0.1", server.port, timeout=10)
    yield server, client


@pytest.fixture(params=["memory", "tcp"])
def pair(request: pytest.FixtureRequest) -> Pair:
    if request.param == "memory":
        store = MemoryStore()
        return store, store
    server, client = request.getfixturevalue("tcp_pair")
    return server, client


_ids = itertools.count()


@pytest.fixture
def k(request: pytest.FixtureRequest) -> str:
    """A key prefix no other test (or parametrization) uses."""
    return f"/contract/{next(_ids)}/{request.node.name}/"


def test_set_get_and_overwrite(pair: Pair, k: str) -> None:
    a, b = pair
    a.set(k + "x", "one")
    assert b.get(k + "x") == b"one"
    b.set(k + "x", "two")
    assert a.get(k + "x") == b"two"


def test_add_returns_the_new_value(pair: Pair, k: str) -> None:
    a, b = pair
    assert a.add(k + "n", 0) == 0
    assert a.add(k + "n", 1) == 1
    assert b.add(k + "n", 4) == 5
    assert a.get(k + "n") == b"5"


def test_check_is_true_only_when_every_key_exists(pair: Pair, k: str) -> None:
    a, b = pair
    assert not a.check([k + "p"])
    a.set(k + "p", "1")
    assert b.check([k + "p"])
    assert not b.check([k + "p", k + "q"])
    b.add(k + "q", 1)
    assert a.check([k + "p", k + "q"])


def test_wait_true_when_keys_exist(pair: Pair, k: str) -> None:
    a, b = pair
    a.multi_set([k + "1", k + "2"], ["x", "y"])
    assert b.wait([k + "1", k + "2"], 5.0)


def test_wait_false_on_a_short_timeout_and_the_connection_stays_usable(pair: Pair, k: str) -> None:
    a, b = pair
    a.set(k + "here", "1")
    assert b.wait([k + "here", k + "missing"], 0.05) is False
    # a timed-out wait must not leave a stray reply on the socket for the next call
    a.set(k + "later", "v")
    assert b.get(k + "later") == b"v"
    assert b.add(k + "n", 2) == 2


def test_wait_wakes_when_another_party_sets_the_key(pair: Pair, k: str) -> None:
    a, b = pair
    result: list[bool] = []
    waiter = threading.Thread(target=lambda: result.append(b.wait([k + "go"], 20.0)))
    waiter.start()
    a.set(k + "go", "1")
    waiter.join(timeout=30)
    assert not waiter.is_alive()
    assert result == [True]


def test_compare_set_from_empty_first_wins(pair: Pair, k: str) -> None:
    a, b = pair
    assert a.compare_set(k + "s", "", "first") == b"first"
    # the loser learns the winner's value, and the value does not change
    assert b.compare_set(k + "s", "", "second") == b"first"
    assert a.get(k + "s") == b"first"


def test_compare_set_with_expected_value(pair: Pair, k: str) -> None:
    a, b = pair
    a.set(k + "s", "old")
    assert b.compare_set(k + "s", "stale", "new") == b"old"
    assert a.get(k + "s") == b"old"
    assert b.compare_set(k + "s", "old", "new") == b"new"
    assert a.get(k + "s") == b"new"


def test_compare_set_on_a_missing_key_with_nonempty_expected_creates_nothing(
    pair: Pair, k: str
) -> None:
    a, _ = pair
    assert a.compare_set(k + "s", "expected", "new") == b"expected"
    assert not a.check([k + "s"])


def test_multi_set_multi_get(pair: Pair, k: str) -> None:
    a, b = pair
    keys = [k + str(i) for i in range(5)]
    a.multi_set(keys, [f"v{i}" for i in range(5)])
    assert b.multi_get(keys) == [f"v{i}".encode() for i in range(5)]
    assert b.multi_get(list(reversed(keys))) == [f"v{i}".encode() for i in reversed(range(5))]


def test_append_creates_then_extends_the_value(pair: Pair, k: str) -> None:
    a, b = pair
    a.append(k, "n1\n")
    b.append(k, "n2\n")
    assert a.get(k) == b"n1\nn2\n"


# -- keys -----------------------------------------------------------------------------------


def test_keys_are_scoped_by_run_and_round() -> None:
    keys = Keys("job")
    built = [
        keys.round_open(0),
        keys.round_open(1),
        keys.round_joined(1),
        keys.round_slot(1, 0),
        keys.round_slot(1, 1),
        keys.round_assignment(1, 0),
        keys.round_closed(1),
        keys.cycle_failure(1, "n0"),
        keys.cycle_succeeded(1),
        keys.cycle_trigger(1),
        keys.cycle_verdict(1),
        keys.shutdown(),
        keys.round_waiting(1),
        keys.exit_ack("n0"),
        keys.exit_ack("n1"),
    ]
    assert len(set(built)) == len(built)
    assert all(key.startswith("/resilience/job/") for key in built)
    assert Keys("other").shutdown() != keys.shutdown()
    assert keys.round_open(3) == "/resilience/job/round/3/open"


# -- records --------------------------------------------------------------------------------

RECORDS = [
    OpenRecord(opened_by="n1", reason="rank 3 exited with code 1"),
    Participant(
        node_id="n1", host="h1", pid=42, local_world_size=8, node_rank_hint=1, prev_group_rank=0
    ),
    Assignment(
        cycle_id=1,
        group_rank=None,
        group_world_size=2,
        rank_offset=0,
        world_size=16,
        master_addr="h0",
        master_port=1234,
        restart_count=1,
    ),
    CloseRecord(outcome="assigned", participants=3),
    ShutdownRecord(reason=ShutdownReason.RESTARTS_EXHAUSTED, detail="3 of 3", by="leader"),
    FailureRecord(
        node_id="n1",
        host="h1",
        cycle_id=2,
        exits=[
            WorkerExit(local_rank=0, rank=8, exitcode=None, signal=9, at=1.5),
            WorkerExit(local_rank=1, rank=9, exitcode=1, at=1.6, error_message="boom"),
        ],
        log_paths=["/logs/cycle_2/rank_8.log"],
        detected_at=2.0,
    ),
]


@pytest.mark.parametrize("record", RECORDS, ids=lambda r: type(r).__name__)
def test_encode_decode_round_trip(record: OpenRecord) -> None:
    raw = encode(record)
    assert decode(type(record), raw) == record
    assert decode(type(record), raw.encode()) == record  # as the store returns it


def test_records_ignore_unknown_fields_from_newer_writers() -> None:
    raw = '{"v": 2, "opened_by": "n1", "reason": "r", "added_later": [1]}'
    assert decode(OpenRecord, raw) == OpenRecord(v=2, opened_by="n1", reason="r")


def test_assignment_spare_flag() -> None:
    spare = RECORDS[2]
    assert isinstance(spare, Assignment)
    assert spare.is_spare
    assert not spare.model_copy(update={"group_rank": 0}).is_spare


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"\xff\xfe\x00",
        "",
        '{"v": 1}',
        '{"reason": "exploded", "detail": "x"}',
        '{"reason": "succeeded", "detail": 5}',
        "[1, 2, 3]",
    ],
)
def test_decode_of_garbage_is_a_rendezvous_error(raw: bytes | str) -> None:
    with pytest.raises(RendezvousError, match="malformed ShutdownRecord record in the store"):
        decode(ShutdownRecord, raw)



def test_try_get_reads_in_one_call_and_never_creates(pair: Pair, k: str) -> None:
    a, b = pair
    assert try_get(b, k + "t") is None
    assert not a.check([k + "t"])
    a.set(k + "t", "v")
    assert try_get(b, k + "t") == b"v"

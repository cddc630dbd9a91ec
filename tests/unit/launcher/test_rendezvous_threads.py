"""The barrier protocol in one process: a real TCPStore, the leader's RoundCloser, 3 agents.

Connections are few on purpose (new TCPStore connections sometimes stall here): one server,
one client for the closer and one per agent, shared by every scenario of the module. Each
concurrently blocking party owns its connection, because a TCPStore client serialises calls on
one socket and a blocking ``wait`` holds it. Each scenario uses its own run id, so no key of
one scenario is visible to another.
"""

from __future__ import annotations

import functools
import itertools
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import Any

import pytest

from resilience.errors import RendezvousGracefulExitError
from resilience.keys import Keys
from resilience.records import (
    Assignment,
    OpenRecord,
    Participant,
    ShutdownReason,
    ShutdownRecord,
    decode,
)
from resilience.rendezvous import BarrierConfig, JoinResult, RendezvousClient, RoundCloser
from resilience.store import MemoryStore, Store, TorchStore, connect_store, host_store

DEADLINE = 30.0  # generous: only reached when something is broken
LOCAL_WORLD_SIZE = 2
NODES = ("n1", "n2", "n3")


@dataclass(frozen=True)
class Conns:
    server: Store  # the test's own connection (never blocks)
    closer: Store
    agents: tuple[Store, ...]


@pytest.fixture(scope="module")
def tcp_conns() -> Iterator[Conns]:
    server = host_store("127.0.0.1", 0, timeout=DEADLINE)

    def client() -> TorchStore:
        return connect_store("127.0.0.1", server.port, timeout=DEADLINE)

    yield Conns(server, client(), tuple(client() for _ in NODES))


_runs = itertools.count()
_ports = itertools.count(41000)


class Events:
    """What the closer reported through ``on_event`` (from its own thread)."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._seen: list[tuple[str, dict[str, object]]] = []

    def __call__(self, kind: str, fields: dict[str, object]) -> None:
        with self._cond:
            self._seen.append((kind, fields))
            self._cond.notify_all()

    def round_closed(self, n: int) -> dict[str, object]:
        """The closer's report for round n; it may come just after the agents return."""

        def find() -> dict[str, object] | None:
            return next(
                (f for kind, f in self._seen if kind == "round_closed" and f["round"] == n), None
            )

        with self._cond:
            assert self._cond.wait_for(lambda: find() is not None, DEADLINE), f"round {n}"
            found = find()
        assert found is not None
        return found


@dataclass
class Job:
    """One run of the protocol: keys, the leader's closer, one client per agent."""

    conns: Conns
    keys: Keys
    closer: RoundCloser
    events: Events
    worker_ports: list[int]
    clients: dict[str, RendezvousClient] = field(default_factory=dict)

    def client(self, node: str, conn: int | None = None) -> RendezvousClient:
        """A client for ``node`` on agent connection ``conn`` (its own by default)."""
        store = self.conns.agents[NODES.index(node) if conn is None else conn]
        return RendezvousClient(store, self.keys, node, DEADLINE)


def _make_worker_store(ports: list[int]) -> Callable[[], TorchStore]:
    # The closer only hands the port of each cycle's worker store to the agents; a store
    # object without a server keeps this test at five connections.
    def make() -> TorchStore:
        ports.append(next(_ports))
        return TorchStore(None, "127.0.0.1", ports[-1])

    return make


@pytest.fixture
def start_job(request: pytest.FixtureRequest) -> Iterator[Callable[..., Job]]:
    started: list[RoundCloser] = []

    def start(max_restarts: int = 3, memory: bool = False) -> Job:
        assert not started, "one closer at a time: they share one connection"
        if memory:
            mem = MemoryStore()
            conns = Conns(mem, mem, (mem,) * len(NODES))
        else:
            conns = request.getfixturevalue("tcp_conns")
        keys = Keys(f"threads-{next(_runs)}")
        ports: list[int] = []
        events = Events()
        closer = RoundCloser(
            conns.closer,
            keys,
            BarrierConfig(
                min_nodes=3,
                max_nodes=3,
                max_restarts=max_restarts,
                join_timeout=DEADLINE,
                last_call_timeout=DEADLINE,
            ),
            master_addr="10.9.9.9",
            make_worker_store=_make_worker_store(ports),
            on_event=events,
        )
        closer.start()
        started.append(closer)
        job = Job(conns, keys, closer, events, ports)
        job.clients = {node: job.client(node) for node in NODES}
        RendezvousClient(conns.server, keys, "leader", DEADLINE).open_round(0, "job start")
        return job

    yield start
    for closer in started:
        closer.stop()


def _run_parallel(calls: Sequence[Callable[[], Any]]) -> list[Any]:
    """Run each call in its own thread; its result, or the exception it raised."""
    results: list[Any] = [None] * len(calls)

    def body(i: int) -> None:
        try:
            results[i] = calls[i]()
        except BaseException as exc:  # reported to the test, which asserts on it
            results[i] = exc

    threads = [threading.Thread(target=body, args=(i,), daemon=True) for i in range(len(calls))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=DEADLINE)
    assert not any(t.is_alive() for t in threads), "a party is still blocked after the deadline"
    return results


def _run_parallel_start(call: Callable[[], Any]) -> Callable[[], list[Any]]:
    """Start ``call`` in a thread now; the returned function waits for it like _run_parallel."""
    result: list[Any] = []
    thread = threading.Thread(target=lambda: result.append(_run_parallel([call])[0]), daemon=True)
    thread.start()

    def finish() -> list[Any]:
        thread.join(timeout=2 * DEADLINE)
        assert not thread.is_alive(), "a party is still blocked after the deadline"
        return result

    return finish


def _me(node: str) -> Participant:
    return Participant(node_id=node, host="host", pid=1, local_world_size=LOCAL_WORLD_SIZE)


def _join_all(
    job: Job, n: int, nodes: Sequence[str] = NODES, conns: Sequence[int] | None = None
) -> dict[str, Any]:
    clients = [
        job.client(node, conns[i]) if conns is not None else job.clients[node]
        for i, node in enumerate(nodes)
    ]

    def joiner(client: RendezvousClient, node: str) -> Callable[[], JoinResult]:
        return lambda: client.join(n, _me(node))

    results = _run_parallel([joiner(c, node) for c, node in zip(clients, nodes, strict=True)])
    return dict(zip(nodes, results, strict=True))


def _assignments(results: dict[str, Any]) -> dict[str, Assignment]:
    out = {}
    for node, result in results.items():
        assert isinstance(result, JoinResult), f"{node}: {result!r}"
        assert result.assignment is not None, f"{node} got no assignment"
        out[node] = result.assignment
    return out


def _assert_one_cycle(a: dict[str, Assignment], cycle: int, port: int) -> None:
    assert sorted(x.group_rank for x in a.values() if x.group_rank is not None) == [0, 1, 2]
    for x in a.values():
        assert x.group_rank is not None
        assert (x.cycle_id, x.restart_count, x.group_world_size) == (cycle, cycle, 3)
        assert (x.master_addr, x.master_port) == ("10.9.9.9", port)
        assert x.world_size == 3 * LOCAL_WORLD_SIZE
        assert x.rank_offset == x.group_rank * LOCAL_WORLD_SIZE


def _graceful_reasons(results: dict[str, Any]) -> dict[str, str]:
    for node, result in results.items():
        assert isinstance(result, RendezvousGracefulExitError), f"{node}: {result!r}"
    return {node: r.reason for node, r in results.items()}


# -- scenarios ------------------------------------------------------------------------------


def test_round_0_gives_distinct_ranks_and_one_worker_store(start_job: Callable[..., Job]) -> None:
    job = start_job()
    a = _assignments(_join_all(job, 0))
    assert len(job.worker_ports) == 1
    _assert_one_cycle(a, cycle=0, port=job.worker_ports[0])
    assert job.events.round_closed(0) == {
        "round": 0,
        "outcome": "assigned",
        "reason": "all 3 nodes joined round 0",
        "active": 3,
        "spares": 0,
    }


def test_failure_opens_the_next_round_and_survivors_keep_their_ranks(
    start_job: Callable[..., Job],
) -> None:
    job = start_job()
    first = _assignments(_join_all(job, 0))

    # n2's worker failed: it opens round 1; the others see it on their next monitor tick
    job.clients["n2"].open_round(1, "rank 3 exited with code 1")
    job.clients["n3"].open_round(1, "a later opener does not overwrite the first")
    assert job.clients["n1"].is_open(1) and job.clients["n3"].is_open(1)
    opened = decode(OpenRecord, job.conns.server.get(job.keys.round_open(1)))
    assert (opened.opened_by, opened.reason) == ("n2", "rank 3 exited with code 1")

    second = _assignments(_join_all(job, 1))
    assert len(job.worker_ports) == 2  # a fresh worker store for every cycle
    _assert_one_cycle(second, cycle=1, port=job.worker_ports[1])
    assert {n: x.group_rank for n, x in second.items()} == {
        n: x.group_rank for n, x in first.items()
    }

    # n3's node is gone; a replacement whose id sorts first joins on its connection.
    # Survivors keep their ranks, the newcomer takes the free one (not rank 0).
    job.clients["n1"].open_round(2, "n3 stopped answering")
    third = _assignments(_join_all(job, 2, nodes=("n1", "n2", "n0"), conns=(0, 1, 2)))
    _assert_one_cycle(third, cycle=2, port=job.worker_ports[2])
    assert third["n1"].group_rank == first["n1"].group_rank
    assert third["n2"].group_rank == first["n2"].group_rank
    assert third["n0"].group_rank == first["n3"].group_rank


def test_all_nodes_succeed_then_the_job_is_closed(start_job: Callable[..., Job]) -> None:
    job = start_job()
    _assignments(_join_all(job, 0))

    closed_job = [job.clients[n].report_success(0, 3) for n in NODES]
    assert closed_job == [False, False, True]  # only the last success closes the job
    record = job.clients["n1"].read_shutdown()
    assert record == ShutdownRecord(
        reason=ShutdownReason.SUCCEEDED, detail="all 3 nodes succeeded", by="n3"
    )
    # the shutdown opened round 1, so every monitor tick (one `check`) sees it
    assert job.clients["n2"].is_open(1)

    reasons = _graceful_reasons(_join_all(job, 1))
    assert reasons == {n: "succeeded" for n in NODES}
    assert job.events.round_closed(1) == {
        "round": 1,
        "outcome": "shutdown",
        "reason": "job closed: succeeded",
    }
    # the leader's exit barrier waits for every agent of the last cycle, not for the (empty)
    # round that only carried the shutdown
    assert job.closer.exit_roll() == (1, frozenset(NODES), frozenset())


def test_the_exit_roll_holds_a_late_joiner_waiting_for_the_next_round(
    start_job: Callable[..., Job],
) -> None:
    """A node that started after round 0 closed waits for round 1 and is in no round's slots:
    the leader must still wait for its exit ack (else its store goes while the node reads)."""
    job = start_job()
    _assignments(_join_all(job, 0))
    # the test's own connection is free to block in the late joiner's wait
    late = RendezvousClient(job.conns.server, job.keys, "late", DEADLINE)
    outcome = _run_parallel_start(lambda: late.join(1, _me("late")))
    n1 = job.clients["n1"]
    deadline = time.monotonic() + DEADLINE
    while n1.waiters(1) != {"late"}:
        assert time.monotonic() < deadline, "the late joiner never registered as waiting"
        time.sleep(0.01)
    assert job.closer.exit_roll() is None  # the job is not closed yet

    assert [job.clients[n].report_success(0, 3) for n in NODES] == [False, False, True]
    (result,) = outcome()
    assert isinstance(result, RendezvousGracefulExitError) and result.reason == "succeeded"
    job.events.round_closed(1)
    roll = job.closer.exit_roll()
    assert roll is not None
    everyone = roll[1] | n1.waiters(roll[0])
    assert everyone == {*NODES, "late"} and roll[2] == frozenset()
    for node in NODES:
        job.clients[node].ack_exit()
    assert not n1.acked(everyone)  # the late joiner has not read the outcome yet
    late.ack_exit()  # a TCPStore `set` gets no reply: another connection sees it a bit later
    deadline = time.monotonic() + DEADLINE
    while not n1.acked(everyone):
        assert time.monotonic() < deadline, "the late joiner's ack never became visible"
        time.sleep(0.01)


def test_restart_budget_exhausted_closes_the_job(start_job: Callable[..., Job]) -> None:
    job = start_job(max_restarts=1)
    _assignments(_join_all(job, 0))
    job.clients["n1"].open_round(1, "failure in cycle 0")
    _assert_one_cycle(_assignments(_join_all(job, 1)), cycle=1, port=job.worker_ports[1])

    job.clients["n1"].open_round(2, "failure in cycle 1")
    results = _join_all(job, 2)
    assert _graceful_reasons(results) == {n: "restarts_exhausted" for n in NODES}
    assert all(
        r.detail == "round 2 would be restart 2 but --max-restarts is 1" for r in results.values()
    )
    assert len(job.worker_ports) == 2  # no worker store for a cycle that never starts


def test_shutdown_first_reason_wins(start_job: Callable[..., Job]) -> None:
    job = start_job()
    _assignments(_join_all(job, 0))

    first = job.clients["n1"].shutdown(ShutdownReason.STOPPED, "attribution: OOM on rank 3", 0)
    second = job.clients["n2"].shutdown(ShutdownReason.FAILED, "ftrun received SIGTERM", 0)
    expected = ShutdownRecord(
        reason=ShutdownReason.STOPPED, detail="attribution: OOM on rank 3", by="n1"
    )
    assert first == second == expected
    assert job.clients["n3"].read_shutdown() == expected

    results = _join_all(job, 1)
    assert _graceful_reasons(results) == {n: "stopped" for n in NODES}
    assert all(r.detail == "attribution: OOM on rank 3" for r in results.values())


def test_concurrent_shutdowns_agree_on_one_winner(start_job: Callable[..., Job]) -> None:
    job = start_job()
    _assignments(_join_all(job, 0))
    go = threading.Barrier(3, timeout=DEADLINE)
    reasons = [ShutdownReason.STOPPED, ShutdownReason.FAILED, ShutdownReason.NO_PROGRESS]

    def shut(node: str, reason: ShutdownReason) -> ShutdownRecord:
        go.wait()
        return job.clients[node].shutdown(reason, f"{node} says {reason.value}", 0)

    seen = _run_parallel(
        [functools.partial(shut, n, r) for n, r in zip(NODES, reasons, strict=True)]
    )
    assert all(isinstance(s, ShutdownRecord) for s in seen)
    assert seen[0] == seen[1] == seen[2]
    assert seen[0].detail == f"{seen[0].by} says {seen[0].reason.value}"
    assert job.clients["n1"].read_shutdown() == seen[0]


def test_late_joiner_of_a_closed_round_is_not_active(start_job: Callable[..., Job]) -> None:
    # in memory: the old failure mode was a blocking get of a missing key (read timeout)
    job = start_job(memory=True)
    _assignments(_join_all(job, 0))
    late = job.client("n4", conn=2).join(0, _me("n4"))  # arrives after round 0 closed
    assert late.assignment is None or late.assignment.group_rank is None


def test_a_malformed_slot_does_not_leave_the_round_open_forever(
    start_job: Callable[..., Job],
) -> None:
    job = start_job(memory=True)
    store, keys = job.conns.server, job.keys
    # e.g. an agent of an incompatible ftrun version: valid JSON, not a Participant
    store.add(keys.round_joined(0), 1)
    store.set(keys.round_slot(0, 0), '{"v": 1, "node_id": 7}')
    results: list[Any] = []
    agents = threading.Thread(target=lambda: results.extend(_join_all(job, 0).values()))
    agents.start()
    try:
        # the closer must still end round 0: shut the job down, or close without the bad slot
        assert store.wait([keys.round_closed(0)], 3.0)
    finally:
        if not store.check([keys.round_closed(0)]):  # unblock the agents of the broken run
            job.clients["n1"].shutdown(ShutdownReason.FAILED, "test cleanup", -1)
            store.set(keys.round_closed(0), '{"outcome": "shutdown", "participants": 0}')
        agents.join(timeout=DEADLINE)
    assert not agents.is_alive()
    assert all(isinstance(r, JoinResult | RendezvousGracefulExitError) for r in results)


# -- a spare waits for the next round for as long as the job trains -------------------------


class _FirstOpenWaitTimesOut:
    """MemoryStore whose first wait for ``key`` reports a timeout, as after a long cycle."""

    def __init__(self, inner: MemoryStore, key: str, progress: threading.Event) -> None:
        self.inner, self.key, self.progress = inner, key, progress
        self.timed_out = False

    def wait(self, keys: Sequence[str], timeout: float) -> bool:
        if self.key in keys:
            if not self.timed_out:
                self.timed_out = True
                return False
            self.progress.set()  # waiting again after the timed-out wait
        return self.inner.wait(keys, timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def test_spare_keeps_waiting_past_join_timeout_until_the_job_closes() -> None:
    keys, inner, progress = Keys("spare"), MemoryStore(), threading.Event()
    store = _FirstOpenWaitTimesOut(inner, keys.round_open(1), progress)
    spare = RendezvousClient(store, keys, "spare", join_timeout=0.01)
    outcome: list[BaseException | JoinResult] = []

    def join() -> None:
        try:
            outcome.append(spare.join(1, _me("spare")))
        except BaseException as exc:  # asserted below
            outcome.append(exc)
        finally:
            progress.set()

    thread = threading.Thread(target=join, daemon=True)
    thread.start()
    assert progress.wait(DEADLINE)  # the spare waits again, or gave up
    RendezvousClient(inner, keys, "n1", DEADLINE).shutdown(
        ShutdownReason.SUCCEEDED, "all 3 nodes succeeded", 0
    )
    thread.join(timeout=DEADLINE)
    assert not thread.is_alive()
    assert store.timed_out
    assert len(outcome) == 1
    assert isinstance(outcome[0], RendezvousGracefulExitError), repr(outcome[0])
    assert outcome[0].reason == "succeeded"

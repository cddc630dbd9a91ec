"""Several real agent loops as threads against one real TCPStore, with scripted workers.

Each test is a fault plan: which node's worker fails in which cycle and how. The agents, the
leader's round closer and its attribution gate are the production classes; only the worker
processes are fakes (they print scripted lines through the same hook the log pumps use).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from resilience.agent.analysis import NodeAnalysis
from resilience.agent.events import EventLog
from resilience.agent.loop import Agent, RunPaths
from resilience.agent.workers import WorkerLaunch
from resilience.attribution import DEFAULT_POLICY
from resilience.config import LaunchConfig, build_parser, resolve
from resilience.decide import AttributionGate
from resilience.keys import Keys
from resilience.records import Participant, WorkerExit
from resilience.rendezvous import BarrierConfig, RendezvousClient, RoundCloser
from resilience.store import TorchStore, connect_store, host_store

KEYERROR = [b"Traceback (most recent call last):\n", b'  File "train.py", line 9\n',
            b"KeyError: 'labels'\n"]


@dataclass
class Plan:
    """(node index, cycle) -> lines the failing rank prints before exiting 1."""

    failures: dict[tuple[int, int], list[bytes]] = field(default_factory=dict)
    always_fail_node: int | None = None


class ScriptedWorkers:
    """A WorkerGroup whose workers follow the plan: fail with lines, or succeed, at once."""

    def __init__(self, node: int, plan: Plan, analysis: NodeAnalysis) -> None:
        self.node, self.plan, self.analysis = node, plan, analysis
        self.live: list[WorkerLaunch] = []
        self.cycle = -1
        self.started_cycles: list[int] = []

    def start(self, launches: Sequence[WorkerLaunch]) -> None:
        self.live = list(launches)
        self.cycle = int(launches[0].env["RESILIENCE_CYCLE_ID"])
        self.started_cycles.append(self.cycle)

    def running(self) -> int:
        return len(self.live)

    def poll(self) -> list[WorkerExit]:
        if not self.live:
            return []
        lines = self.plan.failures.get((self.node, self.cycle))
        if lines is None and self.plan.always_fail_node == self.node:
            lines = [b"exiting\n"]
        first = self.live[0]
        if lines is not None:
            hook = self.analysis.bind(first.rank)
            assert hook is not None
            for line in lines:
                hook(first.rank, True, line)
            self.live = self.live[1:]
            return [WorkerExit(local_rank=0, rank=first.rank, exitcode=1, at=time.time())]
        done, self.live = self.live, []
        return [WorkerExit(local_rank=w.local_rank, rank=w.rank, exitcode=0, at=time.time())
                for w in done]

    def stop(self, timeout: float) -> list[WorkerExit]:
        done, self.live = self.live, []
        return [WorkerExit(local_rank=w.local_rank, rank=w.rank, exitcode=None, signal=15,
                           at=time.time()) for w in done]

    def signal(self, sig: int) -> None:
        pass


@dataclass
class Cluster:
    codes: dict[int, int]
    workers: dict[int, ScriptedWorkers]
    events: list[dict[str, object]]


def _cfg(nnodes: str, max_restarts: int, port: int) -> LaunchConfig:
    args = build_parser().parse_args([
        "--nnodes", nnodes, "--nproc-per-node", "1", "--max-restarts", str(max_restarts),
        "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "plan",
        "--rdzv-conf", "join_timeout=60,last_call_timeout=0.5", "--monitor-interval", "0.01",
        "--ft-attribution-decision-timeout", "5", "train.py"])
    return resolve(args, {})


@pytest.fixture(scope="module")
def master() -> Iterator[TorchStore]:
    yield host_store("127.0.0.1", 0, 30)


@pytest.fixture(scope="module")
def connections(master: TorchStore) -> list[TorchStore]:
    """One connection per agent plus one for the closer, made once (few new connections)."""
    return [connect_store("127.0.0.1", master.port, 30) for _ in range(4)]


def _run(tmp_path: Path, connections: list[TorchStore], nodes: int, nnodes: str,
         max_restarts: int, plan: Plan, run_id: str) -> Cluster:
    cfg = _cfg(nnodes, max_restarts, connections[0].port)
    cfg = cfg.model_copy(update={"rdzv": cfg.rdzv.model_copy(update={"run_id": run_id})})
    keys, collected = Keys(run_id), []
    lead_events = EventLog(tmp_path / "leader.jsonl", "leader")
    gate = AttributionGate(connections[-1], keys, cfg.ft.attribution, DEFAULT_POLICY, [],
                           lead_events.emit)
    closer = RoundCloser(
        connections[-1], keys, BarrierConfig(cfg.rdzv.min_nodes, cfg.rdzv.max_nodes,
                                             max_restarts, 60, 0.5, keep_alive_timeout=30),
        master_addr="127.0.0.1", make_worker_store=lambda: TorchStore(None, "127.0.0.1", 1),
        on_event=lambda kind, fields: collected.append({"event": kind, **fields}), gate=gate)
    closer.start()
    RendezvousClient(connections[-1], keys, "leader", 60).open_round(0, "start")
    codes: dict[int, int] = {}
    workers: dict[int, ScriptedWorkers] = {}
    threads = []
    analyses = []
    for node in range(nodes):
        analysis = NodeAnalysis(f"node{node}")
        analyses.append(analysis)
        workers[node] = ScriptedWorkers(node, plan, analysis)
        agent = Agent(
            cfg, RendezvousClient(connections[node], keys, f"node{node}", 60, 0.5),
            workers[node], EventLog(tmp_path / f"node{node}.jsonl", f"node{node}"),
            Participant(node_id=f"node{node}", host=f"node{node}", pid=node, local_world_size=1),
            RunPaths(tmp_path / f"node{node}"), {}, threading.Event(), lambda: None,
            analysis=analysis)
        t = threading.Thread(target=lambda n=node, a=agent: codes.__setitem__(n, a.run()),
                             daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join(timeout=60)
    closer.stop()
    for analysis in analyses:
        analysis.close()  # its process: not left to the end of the test session
    assert not any(t.is_alive() for t in threads), "every agent finished"
    events = [json.loads(line) for line in (tmp_path / "leader.jsonl").read_text().splitlines()]
    return Cluster(codes, workers, events + collected)


def test_node_failure_restarts_everyone_and_the_spare_stays_spare(tmp_path, connections) -> None:
    plan = Plan(failures={(1, 0): [b"exiting\n"]})
    c = _run(tmp_path, connections, 3, "2:3", 2, plan, "plan-restart")
    assert c.codes == {0: 0, 1: 0, 2: 0}
    active = [n for n, w in c.workers.items() if w.started_cycles]
    assert sorted(c.workers[n].started_cycles for n in active) == [[0, 1], [0, 1]]
    (decision,) = [e for e in c.events if e["event"] == "decision"]
    assert decision["stop"] is False


def test_deterministic_bug_stops_every_node_and_spare_with_93(tmp_path, connections) -> None:
    plan = Plan(failures={(0, 0): KEYERROR, (1, 0): KEYERROR, (2, 0): KEYERROR})
    c = _run(tmp_path, connections, 3, "2:3", 3, plan, "plan-stop")
    assert c.codes == {0: 93, 1: 93, 2: 93}
    assert all(w.started_cycles in ([0], []) for w in c.workers.values())
    (decision,) = [e for e in c.events if e["event"] == "decision"]
    verdict = decision["verdict"]
    assert isinstance(verdict, dict) and verdict["category"] == "user_code"


def test_exhausted_budget_reaches_every_node_including_the_spare(tmp_path, connections) -> None:
    plan = Plan(always_fail_node=0)
    c = _run(tmp_path, connections, 3, "2:3", 1, plan, "plan-exhaust")
    assert c.codes == {0: 1, 1: 1, 2: 1}

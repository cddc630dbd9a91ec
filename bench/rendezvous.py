"""Rendezvous round latency: our barrier rendezvous vs a naive TCPStore barrier, same run.

For each N in ``--sizes`` the bench hosts one real TCPStore in this process, starts a real
:class:`~resilience.rendezvous.closer.RoundCloser` (own client connection, ``min_nodes =
max_nodes = N``, no last call) and spawns ``--procs`` worker processes that run N simulated
agents as threads, each agent with its own TCPStore connection (a TCPStore client serialises
its calls on one socket, and ``join`` blocks in a server-side ``wait``). Every agent calls the
real :meth:`RendezvousClient.join` over its bare store connection, so the bench follows the
protocol as it is edited. All connections are made (and timed) before any timing starts.

    round n latency = (bench opens round n: ``RendezvousClient.open_round``)
                      -> (the last agent's ``join(n)`` returned its assignment)
    per-agent cost  = latency / N; flat when the cost at the largest N is at most 1.25x the
                      cheapest smaller N (a noisy small size cannot fake growth or flatness)

Round 0 is the first rendezvous; round 1 is the restart case (every agent rejoins, survivors
keep their ranks; the bench checks ranks 0..N-1 are each given once and kept in round 1). The
naive baseline then runs on the same store, processes and connections: every agent does
``add("naive/<N>/count", 1)`` and polls ``get`` on that one key until it reads N (the
thundering herd), timed from the moment the bench sets the go key the agents wait on. The
agents' monotonic clocks are the system-wide CLOCK_MONOTONIC, comparable across processes.
Every agent store call is counted and timestamped (``--json``: calls per agent, the last
agent's calls, the slowest call, the closer's calls), and each timed phase records the CPU the
bench used and the CPU other tenants of this shared machine took meanwhile.

Harness notes (they change what the harness costs, not what the protocol does):
- 256 agent threads per process all wake at once when a round opens or closes. With CPython's
  5 ms switch interval every thread waiting for the GIL wakes every 5 ms to demand it; here
  (gVisor, 2 cores) that storm sometimes burned 30 CPU-s and stretched a 3 s round to 17 s.
  The workers therefore run with ``sys.setswitchinterval(0.1)`` (``--switch-interval``);
  agents block in store calls after ~100 us of Python, so no agent waits on a long slice.
- Connection stalls: the TCPStore server reverse-resolves every accepted peer (getnameinfo;
  the lookup goes to DNS here) on its single loop thread, and the resolver drops queries under
  load (5 s timeout, 2 attempts). Connects therefore queue behind each other (1,024 took
  2.5 minutes with glibc's defaults), and while a lookup hangs the whole store answers
  nothing (a ``get`` on an open connection took 5.0 s during a connect burst). The bench sets
  ``RES_OPTIONS=timeout:1 attempts:1`` for itself and its workers (``--resolver-timeout``; 0
  keeps glibc's default). All connects finish before any clock starts; the table counts those
  that took more than 4.5 s (mostly time spent queued behind other lookups).
- All agents are released at the same instant, so in the naive barrier every add lands before
  almost every poll: agents make ~3 store calls each and the herd hardly spins here.

    python bench/rendezvous.py --sizes 64,256,1024,4096 --procs 16 [--json]

Every size has a hard deadline (``--size-timeout``, default 120 s + 0.12 s per agent); workers
are killed at the end of each size, on Ctrl-C and on SIGTERM, and kill themselves if the bench
process disappears or the deadline passes.
"""

from __future__ import annotations

import argparse
import contextlib
import itertools
import json
import math
import multiprocessing as mp
import os
import resource
import signal
import sys
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from multiprocessing.connection import Connection, wait
from multiprocessing.process import BaseProcess
from typing import Any

TARGET_S = 2.0  # issue target for a round at TARGET_N agents
TARGET_N = 4096
NAIVE_REFERENCE_S = 12.5  # naive TCPStore barrier at 4,096, as measured in the issue
STALL_S = 4.5  # a connect slower than this is the reverse-DNS stall
SETTLE_S = 0.5  # pause before opening a round, so every agent is parked in its wait
PHASES: tuple[str, ...] = ("round0", "round1", "naive")
GROWTH_RATIO = 1.25  # per-agent cost at the largest N over the cheapest smaller N: "grows"
MIN_SHARE_S = 0.25  # shortest timed phase whose CPU shares are reported
NOISY_PCT = 20.0  # other tenants' share of the machine's CPU that makes a timing suspect
HOST = "127.0.0.1"


# -- worker processes ---------------------------------------------------------------------
Trace = list[tuple[str, float, float]]  # (store call, monotonic start, seconds)


@dataclass(frozen=True)
class WorkerSpec:
    port: int
    run_id: str
    n_total: int
    first: int  # agent indices [first, first + count)
    count: int
    connect_timeout: float
    join_timeout: float
    naive_poll: float
    switch_interval: float
    deadline: float  # monotonic; the worker exits by itself after this
    parent_pid: int


@dataclass(frozen=True)
class AgentResult:
    agent: int
    end: float | None = None  # monotonic time the phase completed for this agent
    rank: int | None = None
    error: str | None = None
    calls: int = 0  # store calls this agent made in the phase


class _TracedStore:
    """A :class:`resilience.store.Store` that counts and timestamps every call."""

    def __init__(self, inner: Any) -> None:
        self.inner = inner
        self.keep = True
        self.calls = 0
        self.trace: Trace = []

    def take(self, keep: bool = True) -> tuple[int, Trace]:
        """The calls since the last take; ``keep=False`` stops recording (naive spin loop)."""
        out = (self.calls, self.trace)
        self.calls, self.trace, self.keep = 0, [], keep
        return out

    def _t(self, op: str, *args: Any) -> Any:
        t = time.monotonic()
        try:
            return getattr(self.inner, op)(*args)
        finally:
            self.calls += 1
            if self.keep:
                self.trace.append((op, t, time.monotonic() - t))

    def set(self, key: str, value: str) -> None:
        self._t("set", key, value)

    def get(self, key: str) -> bytes:
        value: bytes = self._t("get", key)
        return value

    def add(self, key: str, amount: int) -> int:
        value: int = self._t("add", key, amount)
        return value

    def check(self, keys: Sequence[str]) -> bool:
        value: bool = self._t("check", keys)
        return value

    def wait(self, keys: Sequence[str], timeout: float) -> bool:
        value: bool = self._t("wait", keys, timeout)
        return value

    def compare_set(self, key: str, expected: str, desired: str) -> bytes:
        value: bytes = self._t("compare_set", key, expected, desired)
        return value

    def multi_set(self, keys: Sequence[str], values: Sequence[str]) -> None:
        self._t("multi_set", keys, values)

    def multi_get(self, keys: Sequence[str]) -> list[bytes]:
        value: list[bytes] = self._t("multi_get", keys)
        return value


@dataclass
class _Board:
    """Per-worker results, filled by the agent threads."""

    cond: threading.Condition = field(default_factory=threading.Condition)
    connect_s: list[float] = field(default_factory=list)
    connect_errors: list[str] = field(default_factory=list)
    phases: dict[str, list[AgentResult]] = field(default_factory=lambda: {p: [] for p in PHASES})
    traces: dict[str, dict[int, Trace]] = field(default_factory=lambda: {p: {} for p in PHASES})

    def connected(self, seconds: float | None, error: str | None = None) -> None:
        with self.cond:
            if error is not None:
                self.connect_errors.append(error)
            elif seconds is not None:
                self.connect_s.append(seconds)
            self.cond.notify_all()

    def put(self, phase: str, result: AgentResult, trace: Trace | None = None) -> None:
        with self.cond:
            self.phases[phase].append(result)
            if trace:
                self.traces[phase][result.agent] = trace
            self.cond.notify_all()


def _agent(spec: WorkerSpec, i: int, board: _Board) -> None:
    from resilience.errors import ResilienceError
    from resilience.keys import Keys
    from resilience.records import Participant
    from resilience.rendezvous.client import RendezvousClient
    from resilience.store import connect_store

    t = time.monotonic()
    try:
        store = _TracedStore(connect_store(HOST, spec.port, spec.connect_timeout))
    except ResilienceError as exc:
        board.connected(None, f"agent {i}: {exc}")
        return
    board.connected(time.monotonic() - t)

    client = RendezvousClient(store, Keys(spec.run_id), f"node-{i}", spec.join_timeout)
    me = Participant(node_id=f"node-{i}", host=f"host-{i:05d}", pid=os.getpid(), local_world_size=8)
    failed: str | None = None
    for n, phase in enumerate(PHASES[:2]):
        if failed is not None:
            board.put(phase, AgentResult(i, error=f"skipped: {failed}"))
            continue
        try:
            res = client.join(n, me)
        except ResilienceError as exc:
            failed = f"{type(exc).__name__}: {exc}"
            board.put(phase, AgentResult(i, error=failed))
            continue
        end = time.monotonic()
        rank = res.assignment.group_rank if res.assignment is not None else None
        calls, trace = store.take(keep=n == 0)  # no per-call record in the naive spin loop
        board.put(phase, AgentResult(i, end=end, rank=rank, calls=calls), trace)

    # The naive baseline: one shared counter, everyone polls it.
    base = f"naive/{spec.n_total}"
    try:
        if not store.wait([f"{base}/go"], max(spec.deadline - time.monotonic(), 0.001)):
            raise TimeoutError("go key never set")
        store.add(f"{base}/count", 1)
        while int(store.get(f"{base}/count")) < spec.n_total:
            if time.monotonic() > spec.deadline:
                raise TimeoutError("count never reached N")
            if spec.naive_poll > 0:
                time.sleep(spec.naive_poll)
        end = time.monotonic()
        board.put("naive", AgentResult(i, end=end, calls=store.take()[0]))
    except (ResilienceError, TimeoutError, ValueError) as exc:
        board.put("naive", AgentResult(i, error=f"{type(exc).__name__}: {exc}"))


def _watchdog(spec: WorkerSpec) -> None:
    """Exit when the bench process is gone or the size's deadline has passed."""
    while time.monotonic() < spec.deadline and os.getppid() == spec.parent_pid:
        time.sleep(0.5)
    os._exit(3)


def worker_main(spec: WorkerSpec, conn: Connection) -> None:
    """One worker process: ``spec.count`` agents as threads; reports each phase over ``conn``.

    Per phase it sends only small tuples, so reporting costs little CPU while other workers'
    agents are still in the round; the per-call traces follow once every phase is over.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # the bench process decides when we stop
    if spec.switch_interval > 0:
        sys.setswitchinterval(spec.switch_interval)
    threading.Thread(target=_watchdog, args=(spec,), daemon=True).start()
    board = _Board()
    for i in range(spec.first, spec.first + spec.count):
        threading.Thread(target=_agent, args=(spec, i, board), daemon=True).start()

    def wait_for(pred: Any) -> None:
        with board.cond:
            board.cond.wait_for(pred, timeout=max(spec.deadline - time.monotonic(), 0.0))

    try:
        wait_for(lambda: len(board.connect_s) + len(board.connect_errors) >= spec.count)
        with board.cond:
            conn.send(("connected", list(board.connect_s), list(board.connect_errors)))
        alive = spec.count - len(board.connect_errors)
        for phase in PHASES:
            wait_for(lambda p=phase: len(board.phases[p]) >= alive)
            with board.cond:
                conn.send(
                    (
                        phase,
                        [(r.agent, r.end, r.rank, r.error, r.calls) for r in board.phases[phase]],
                    )
                )
        with board.cond:
            conn.send(("traces", board.traces))
    except (OSError, EOFError):
        pass  # the bench went away
    finally:
        conn.close()
        os._exit(0)  # agent threads may still sit in store calls; do not wait for them


# -- CPU accounting -----------------------------------------------------------------------
def _machine_busy_s() -> float:
    """Busy CPU seconds of the whole machine (all tenants), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    idle = fields[3] + (fields[4] if len(fields) > 4 else 0)
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def _cpu_s(path: str) -> float:
    """utime + stime of a /proc/<pid>/stat or /proc/<pid>/task/<tid>/stat file (0 if gone)."""
    try:
        with open(path) as f:
            parts = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(parts[11]) + int(parts[12])) / os.sysconf("SC_CLK_TCK")


@dataclass
class _CpuMeter:
    """Who used the CPU during a timed phase: store server, closer, agents, other tenants."""

    workers: list[int]
    closer_tid: int | None
    t: float = 0.0
    start_values: dict[str, float] = field(default_factory=dict)

    def _read(self) -> dict[str, float]:
        me = os.getpid()
        task = f"/proc/{me}/task"
        bench = _cpu_s(f"/proc/{me}/stat")
        closer = _cpu_s(f"{task}/{self.closer_tid}/stat") if self.closer_tid else 0.0
        collector = _cpu_s(f"{task}/{threading.main_thread().native_id}/stat")
        return {
            "machine": _machine_busy_s(),
            "agents": sum(_cpu_s(f"/proc/{pid}/stat") for pid in self.workers),
            "closer": closer,
            "store_server": bench - closer - collector,  # the TCPStore server's threads
            "collector": collector,
        }

    def start(self) -> None:
        self.t, self.start_values = time.monotonic(), self._read()

    def stop(self) -> dict[str, float | None]:
        wall = max(time.monotonic() - self.t, 1e-9)
        d = {k: v - self.start_values[k] for k, v in self._read().items()}
        mine = d["agents"] + d["closer"] + d["store_server"] + d["collector"]
        others = max(d["machine"] - mine, 0.0)
        return {
            "agents_cpu_s": round(d["agents"], 2),
            "store_server_cpu_s": round(d["store_server"], 2),
            "closer_cpu_s": round(d["closer"], 2),
            "others_cpu_s": round(others, 2),
            # /proc counts in 10 ms ticks: a share over a shorter phase would be noise.
            "others_share": (
                round(others / (wall * (os.cpu_count() or 1)), 3) if wall >= MIN_SHARE_S else None
            ),
        }


# -- the bench process --------------------------------------------------------------------
@dataclass
class SizeResult:
    n: int
    procs: int
    ours_s: dict[str, float | None] = field(default_factory=dict)  # round0, round1
    close_s: dict[str, float | None] = field(default_factory=dict)  # open -> closer wrote closed
    naive_s: float | None = None
    connects: int = 0
    connect_stalls: int = 0
    connect_max_s: float = 0.0
    connect_wall_s: float = 0.0
    ranks_ok: dict[str, bool] = field(default_factory=dict)
    detail: dict[str, dict[str, Any]] = field(default_factory=dict)  # per phase
    errors: list[str] = field(default_factory=list)

    def per_agent_us(self, value: float | None) -> float | None:
        return None if value is None else value / self.n * 1e6

    def leader_us(self, phase: str) -> float | None:
        """CPU the leader's process spent per agent (TCPStore server + closer)."""
        cpu = self.detail.get(phase, {}).get("cpu")
        if cpu is None:
            return None
        return float(cpu["store_server_cpu_s"] + cpu["closer_cpu_s"]) / self.n * 1e6


class _Phase(Exception):
    """A size could not be completed; the message says where."""


def _raise_nofile(needed: int) -> str:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= hard or soft == resource.RLIM_INFINITY:
        note = f"RLIMIT_NOFILE soft={soft} (already at hard limit {hard})"
    else:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
        note = f"raised RLIMIT_NOFILE soft limit {soft} -> {hard} (hard limit)"
    if hard != resource.RLIM_INFINITY and hard < needed:
        note += f"; WARNING: hard limit {hard} < {needed} descriptors needed for the largest N"
    return note


def _collect(
    conns: dict[int, Connection], kind: str, deadline: float
) -> dict[int, tuple[Any, ...]]:
    """One ``kind`` message from every worker, or raise _Phase at the deadline."""
    got: dict[int, tuple[Any, ...]] = {}
    pending = {c: k for k, c in conns.items()}
    while pending:
        left = deadline - time.monotonic()
        if left <= 0:
            raise _Phase(f"{kind}: {len(pending)} of {len(conns)} workers did not report in time")
        ready = wait(list(pending), timeout=left)
        for c in [c for c in pending if c in ready]:
            k = pending.pop(c)
            try:
                msg: tuple[Any, ...] = c.recv()
            except EOFError:
                raise _Phase(f"{kind}: worker {k} exited early") from None
            if msg[0] != kind:
                raise _Phase(f"{kind}: worker {k} sent {msg[0]!r}")
            got[k] = msg
    return got


def _pct(xs: Sequence[float], q: float) -> float:
    return sorted(xs)[min(len(xs) - 1, int(q * len(xs)))]


def _summarise(
    msgs: dict[int, tuple[Any, ...]], phase: str, t_open: float, result: SizeResult
) -> tuple[float | None, dict[int, int | None]]:
    """Latency of a phase (None unless every agent finished) and each agent's rank."""
    done: list[AgentResult] = []
    errors: list[str] = []
    for msg in msgs.values():
        for r in (AgentResult(*t) for t in msg[1]):
            if r.error is None and r.end is not None:
                done.append(r)
            else:
                errors.append(f"agent {r.agent}: {r.error}")
    if errors:
        result.errors.append(f"{phase}: {len(errors)} agents failed, first: {errors[0]}")
    if not done:
        return None, {}
    ends = [r.end - t_open for r in done if r.end is not None]
    last = max(done, key=lambda r: r.end or 0.0)
    result.detail.setdefault(phase, {}).update(
        p50_s=round(_pct(ends, 0.5), 4),
        p90_s=round(_pct(ends, 0.9), 4),
        p99_s=round(_pct(ends, 0.99), 4),
        max_s=round(max(ends), 4),
        last_agent=last.agent,
        store_calls_per_agent=sum(r.calls for r in done) / len(done),
    )
    ranks = {r.agent: r.rank for r in done}
    return (max(ends) if len(done) == result.n else None), ranks


def _attach_traces(
    traces: dict[int, tuple[Any, ...]], t_open: dict[str, float], result: SizeResult
) -> None:
    """Where the last agent's time went and the slowest call of each round (after timing)."""
    for phase, t0 in t_open.items():
        merged: dict[int, Trace] = {}
        for msg in traces.values():
            merged.update(msg[1].get(phase, {}))
        detail = result.detail.get(phase)
        if not merged or detail is None:
            continue
        last = merged.get(detail.get("last_agent", -1), [])
        detail["last_agent_calls"] = [(op, round(t - t0, 4), round(d, 4)) for op, t, d in last]
        slow = [(d, op, t - t0) for tr in merged.values() for op, t, d in tr if t >= t0]
        d, op, at = max(slow, default=(0.0, "-", 0.0))
        detail["slowest_call"] = {"op": op, "seconds": round(d, 4), "started_at_s": round(at, 4)}


@dataclass
class _Run:
    """One size: the hosted store, the closer, the worker processes and what they reported."""

    n: int
    args: argparse.Namespace
    result: SizeResult
    deadline: float
    events: list[tuple[float, str, dict[str, object]]] = field(default_factory=list)
    workers: list[BaseProcess] = field(default_factory=list)
    conns: dict[int, Connection] = field(default_factory=dict)
    t_open: dict[str, float] = field(default_factory=dict)

    def on_event(self, name: str, payload: dict[str, object]) -> None:
        self.events.append((time.monotonic(), name, payload))

    def closed_at(self, rnd: int) -> float | None:
        hits = (t for t, e, p in self.events if e == "round_closed" and p.get("round") == rnd)
        return next(hits, None)

    def spawn(self, port: int, run_id: str, budget: float) -> None:
        ctx = mp.get_context("spawn")
        per = math.ceil(self.n / self.result.procs)
        for k, first in enumerate(range(0, self.n, per)):
            spec = WorkerSpec(
                port=port,
                run_id=run_id,
                n_total=self.n,
                first=first,
                count=min(per, self.n - first),
                connect_timeout=budget,
                join_timeout=self.args.join_timeout,
                naive_poll=self.args.naive_poll,
                switch_interval=self.args.switch_interval,
                deadline=self.deadline,
                parent_pid=os.getpid(),
            )
            parent_end, child_end = ctx.Pipe(duplex=False)
            p = ctx.Process(target=worker_main, args=(spec, child_end), daemon=True)
            p.start()
            child_end.close()
            self.workers.append(p)
            self.conns[k] = parent_end

    def connected(self, closer_connect_s: float, t_spawn: float) -> None:
        r = self.result
        msgs = _collect(self.conns, "connected", self.deadline)
        connect_s = [closer_connect_s] + [s for m in msgs.values() for s in m[1]]
        r.connects, r.connect_max_s = len(connect_s), max(connect_s)
        r.connect_stalls = sum(s > STALL_S for s in connect_s)
        r.connect_wall_s = time.monotonic() - t_spawn  # spawn + import torch + connect
        failed = [e for m in msgs.values() for e in m[2]]
        if failed:
            raise _Phase(f"connect: {len(failed)} agents could not connect, first: {failed[0]}")
        _log(
            f"N={self.n}: {r.connects} connections in {r.connect_wall_s:.1f}s "
            f"(over {STALL_S:g}s: {r.connect_stalls}, slowest {r.connect_max_s:.2f}s)"
        )

    def timed(
        self, phase: str, start: Any, meter: _CpuMeter
    ) -> tuple[float | None, dict[int, int | None]]:
        """Run ``start()`` at t0, wait for every worker's report of ``phase``, summarise."""
        time.sleep(SETTLE_S)
        meter.start()
        self.t_open[phase] = t0 = time.monotonic()
        start()
        msgs = _collect(self.conns, phase, self.deadline)
        self.result.detail[phase] = {"cpu": meter.stop()}
        return _summarise(msgs, phase, t0, self.result)

    def reap(self) -> None:
        grace = time.monotonic() + 3.0
        for p in self.workers:
            p.join(timeout=max(grace - time.monotonic(), 0.0))
        for p in self.workers:
            if p.is_alive():
                p.terminate()
        for p in self.workers:
            p.join(timeout=2.0)
            if p.is_alive():
                p.kill()
                p.join(timeout=2.0)


def run_size(n: int, procs: int, args: argparse.Namespace) -> SizeResult:
    from resilience.keys import Keys
    from resilience.rendezvous.barrier import BarrierConfig
    from resilience.rendezvous.client import RendezvousClient
    from resilience.rendezvous.closer import RoundCloser
    from resilience.store import TorchStore, connect_store, host_store

    # Connects queue behind the server's serial reverse-DNS lookups: give them the whole budget.
    budget = args.size_timeout or 120.0 + 0.12 * n
    run = _Run(n, args, SizeResult(n=n, procs=max(1, min(procs, n))), time.monotonic() + budget)
    result, keys, run_id = run.result, Keys(f"bench-{n}-{os.getpid()}"), f"bench-{n}-{os.getpid()}"
    host = host_store(HOST, 0, budget)
    t = time.monotonic()
    closer_store = _TracedStore(connect_store(HOST, host.port, budget))
    closer_connect_s = time.monotonic() - t
    cfg = BarrierConfig(
        min_nodes=n,
        max_nodes=n,
        max_restarts=10,
        join_timeout=args.join_timeout,
        last_call_timeout=0,
        keep_alive_timeout=60,
    )
    closer = RoundCloser(
        closer_store,
        keys,
        cfg,
        HOST,
        make_worker_store=lambda: TorchStore(None, HOST, 12345),
        on_event=run.on_event,
    )
    opener = RendezvousClient(host, keys, "bench", args.join_timeout)
    try:
        closer.start()
        t_spawn = time.monotonic()
        run.spawn(host.port, run_id, budget)
        run.connected(closer_connect_s, t_spawn)
        closer_tid = next(
            (th.native_id for th in threading.enumerate() if th.name == "resilience-closer"), None
        )
        meter = _CpuMeter([p.pid for p in run.workers if p.pid is not None], closer_tid)
        ranks: dict[str, dict[int, int | None]] = {}
        for rnd, phase in enumerate(PHASES[:2]):
            closer_store.take()
            latency, ranks[phase] = run.timed(
                phase, lambda r=rnd: opener.open_round(r, "bench"), meter
            )
            _closer_detail(run, closer_store.take()[1], rnd, phase)
            result.ours_s[phase] = latency
            result.ranks_ok[phase] = sorted(r for r in ranks[phase].values() if r is not None) == [
                *range(n)
            ]
            _log(f"N={n}: ours {phase} {_fmt_s(latency)} {json.dumps(result.detail[phase])}")
            if latency is None:
                raise _Phase(f"{phase}: round did not complete for every agent")
        result.ranks_ok["round1_kept"] = ranks["round0"] == ranks["round1"]
        result.naive_s, _ = run.timed("naive", lambda: host.set(f"naive/{n}/go", "1"), meter)
        _log(f"N={n}: naive {_fmt_s(result.naive_s)} {json.dumps(result.detail['naive'])}")
        traces = _collect(run.conns, "traces", min(run.deadline, time.monotonic() + 60))
        _attach_traces(traces, {p: run.t_open[p] for p in PHASES[:2]}, result)
    except _Phase as exc:
        result.errors.append(str(exc))
        _log(f"N={n}: {exc}")
    finally:
        # Wake the closer from its wait for round 2 so that stop() returns at once.
        with contextlib.suppress(Exception):
            opener.open_round(2, "bench done")
        closer.stop()
        run.reap()
    return result


def _closer_detail(run: _Run, trace: Trace, rnd: int, phase: str) -> None:
    """The closer's store calls while it closed round ``rnd`` (not its wait for the next)."""
    t0, close = run.t_open[phase], run.closed_at(rnd)
    closing = [c for c in trace if close is None or c[1] < close]
    op, at, d = max(closing, key=lambda c: c[2], default=("-", t0, 0.0))
    run.result.close_s[phase] = None if close is None else close - t0
    run.result.detail[phase]["closer"] = {
        "store_calls": len(closing),
        "slowest_call": {"op": op, "started_at_s": round(at - t0, 4), "seconds": round(d, 4)},
    }


def _log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def _fmt_s(v: float | None) -> str:
    return "-" if v is None else f"{v:.3f}s"


def _fmt(v: float | None, spec: str) -> str:
    return "-" if v is None else format(v, spec)


def _growth(results: Sequence[SizeResult], phase: str) -> list[tuple[int, int, float]]:
    """Exponent k of latency ~ N**k between consecutive sizes; k <= 1: per-agent cost flat."""
    out: list[tuple[int, int, float]] = []
    for a, b in itertools.pairwise(results):
        la, lb = a.ours_s.get(phase), b.ours_s.get(phase)
        if la and lb and b.n != a.n:
            out.append((a.n, b.n, math.log(lb / la) / math.log(b.n / a.n)))
    return out


def _others_pct(r: SizeResult) -> float | None:
    cpus = [d["cpu"] for d in r.detail.values() if "cpu" in d]
    shares = [c["others_share"] for c in cpus if c["others_share"] is not None]
    return 100 * max(shares) if shares else None


def render(results: Sequence[SizeResult]) -> str:
    head = (
        f"{'N':>5} {'procs':>5} {'ours r0':>8} {'ours r1':>8} {'us/agent r0':>11} "
        f"{'us/agent r1':>11} {'closed r0/r1':>13} {'leader cpu us/agent':>19} {'naive':>7} "
        f"{'naive us/agent':>14} {'stalls>4.5s':>11} {'conn max':>8} {'others cpu':>10}"
    )
    lines = [head, "-" * len(head)]
    for r in results:
        r0, r1 = r.ours_s.get("round0"), r.ours_s.get("round1")
        c0, c1 = r.close_s.get("round0"), r.close_s.get("round1")
        lead = f"{_fmt(r.leader_us('round0'), '.0f')}/{_fmt(r.leader_us('round1'), '.0f')}"
        lines.append(
            f"{r.n:>5} {r.procs:>5} {_fmt(r0, '7.3f')}s {_fmt(r1, '7.3f')}s "
            f"{_fmt(r.per_agent_us(r0), '11.0f')} {_fmt(r.per_agent_us(r1), '11.0f')} "
            f"{_fmt(c0, '6.3f')}/{_fmt(c1, '<6.3f')} {lead:>19} {_fmt(r.naive_s, '6.3f')}s "
            f"{_fmt(r.per_agent_us(r.naive_s), '14.0f')} "
            f"{f'{r.connect_stalls}/{r.connects}':>11} {r.connect_max_s:7.1f}s "
            f"{_fmt(_others_pct(r), '9.0f') + '%' if _others_pct(r) is not None else 'n/a':>10}"
        )
    lines.append(
        "ours rN: bench opens round N -> last agent has its assignment. closed: -> the closer "
        "wrote 'closed'. leader cpu: CPU of the TCPStore server + closer threads / N. naive: go "
        "key -> last agent read count == N. stalls: connects (made before timing) over 4.5 s. "
        "others cpu: most CPU other tenants of this machine took during a timed phase."
    )
    return "\n".join(lines)


def verdict(results: Sequence[SizeResult]) -> list[str]:
    out: list[str] = []
    ok = [r for r in results if not r.errors]
    for r in results:
        if r.errors:
            out.append(f"N={r.n}: INCOMPLETE: {'; '.join(r.errors)}")
        bad = [k for k, v in r.ranks_ok.items() if not v]
        if bad:
            out.append(f"N={r.n}: rank check FAILED for {bad}")
    big = next((r for r in ok if r.n == TARGET_N), None)
    if big is None:
        out.append(f"target: not judged (needs a complete run at N={TARGET_N})")
    else:
        worst = max(v for v in big.ours_s.values() if v is not None)
        out.append(
            f"target: worst round at N={big.n} = {worst:.3f}s -> "
            f"{'MET' if worst < TARGET_S else 'NOT MET'} (< {TARGET_S:g}s); naive here "
            f"{_fmt_s(big.naive_s)} (the issue's reference: {NAIVE_REFERENCE_S:g}s)"
        )
    for phase in PHASES[:2]:
        cost = [(r.n, r.per_agent_us(r.ours_s.get(phase))) for r in ok]
        known = [(n, c) for n, c in cost if c is not None]
        if len(known) < 2:
            continue
        ratio = known[-1][1] / min(c for _, c in known[:-1])
        out.append(
            f"{phase}: us/agent "
            + ", ".join(f"{n}:{c:.0f}" for n, c in known)
            + f"; at N={known[-1][0]} {ratio:.2f}x the cheapest smaller N"
            + (" -> flat" if ratio <= GROWTH_RATIO else f" -> GROWS (> {GROWTH_RATIO:g}x)")
            + " (latency ~ N^k: "
            + ", ".join(f"{a}->{b} k={k:.2f}" for a, b, k in _growth(ok, phase))
            + "); leader cpu us/agent "
            + ", ".join(f"{r.n}:{_fmt(r.leader_us(phase), '.0f')}" for r in ok)
        )
    noisy = [r.n for r in ok if (_others_pct(r) or 0.0) > NOISY_PCT]
    if noisy:
        out.append(
            f"noisy: other tenants took more than {NOISY_PCT:g}% of the CPU during timed phases "
            f"at N={noisy}; wall times there are inflated (compare the leader cpu column)"
        )
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    ap.add_argument("--sizes", default="64,256,1024,4096", help="comma-separated agent counts")
    ap.add_argument("--procs", type=int, default=16, help="worker processes per size")
    ap.add_argument("--json", action="store_true", help="print JSON instead of the table")
    ap.add_argument(
        "--size-timeout", type=float, default=0.0, help="hard limit per size (s); 0: 120 + 0.12*N"
    )
    ap.add_argument("--join-timeout", type=float, default=120.0)
    ap.add_argument(
        "--resolver-timeout",
        type=int,
        default=1,
        help="RES_OPTIONS timeout:S attempts:1 for connection setup (0: leave glibc's 5 s)",
    )
    ap.add_argument(
        "--switch-interval",
        type=float,
        default=0.1,
        help="sys.setswitchinterval in the workers (0: CPython's 5 ms; see the docstring)",
    )
    ap.add_argument(
        "--naive-poll", type=float, default=0.0, help="sleep between naive polls (0: spin)"
    )
    args = ap.parse_args(argv)
    sizes = [int(s) for s in args.sizes.split(",") if s.strip()]
    if not sizes or min(sizes) < 1 or args.procs < 1:
        ap.error("--sizes must be positive integers and --procs >= 1")

    # Quiet c10d's per-connection "hostname cannot be retrieved" warning (children inherit).
    os.environ.setdefault("TORCH_CPP_LOG_LEVEL", "ERROR")
    if args.resolver_timeout > 0:
        # The TCPStore server reverse-resolves every accepted peer on its one loop thread, so a
        # stalled lookup stalls every connect behind it; glibc reads RES_OPTIONS (children
        # inherit). Setup only: no connection is made while a round is timed.
        os.environ["RES_OPTIONS"] = f"timeout:{args.resolver_timeout} attempts:1"
    resolver = os.environ.get("RES_OPTIONS", "glibc default (timeout:5 attempts:2)")
    _log(f"resolver: {resolver}")
    nofile_note = _raise_nofile(max(sizes) + 256)
    _log(nofile_note)

    def on_term(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    results: list[SizeResult] = []
    try:
        for n in sizes:
            results.append(run_size(n, args.procs, args))
    except KeyboardInterrupt:
        _log("interrupted; workers of the current size were killed")
    for child in mp.active_children():  # belt and braces: nothing outlives the bench
        child.kill()
    if args.json:
        payload = {
            "nofile": nofile_note,
            "target_s": TARGET_S,
            "results": [
                {**asdict(r), "per_agent_us": {k: r.per_agent_us(v) for k, v in r.ours_s.items()}}
                for r in results
            ],
            "verdict": verdict(results),
        }
        print(json.dumps(payload, indent=2))
    else:
        print(render(results))
        print("\n".join(verdict(results)))
    return 0 if results and all(not r.errors for r in results) else 1


if __name__ == "__main__":
    sys.exit(main())

"""Composition root of ``ftrun``: wires config, store, rendezvous, workers and the agent loop."""

from __future__ import annotations

import contextlib
import logging
import os
import select
import signal
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from types import FrameType

from resilience.agent.analysis import NodeAnalysis
from resilience.agent.events import EventLog
from resilience.agent.logs import ConsoleSink
from resilience.agent.loop import Agent, RunPaths
from resilience.agent.workers import SubprocessWorkers
from resilience.attribution import DEFAULT_POLICY, Policy, load_policy
from resilience.config.models import LaunchConfig
from resilience.decide import AttributionGate
from resilience.errors import StoreError
from resilience.keys import Keys
from resilience.records import Participant
from resilience.rendezvous.barrier import BarrierConfig
from resilience.rendezvous.client import RendezvousClient
from resilience.rendezvous.closer import RoundCloser
from resilience.sources.base import AttributionSource
from resilience.sources.http import HttpSource
from resilience.store import TorchStore, connect_store, host_store

__all__ = ["launch"]

log = logging.getLogger("resilience")


class _Signals:
    """Records the first handled signal; any handled signal (and SIGCHLD) wakes the loop.

    The wake-up goes through ``signal.set_wakeup_fd``: the interpreter writes a byte to a pipe
    at C level, and the Python handlers take no lock. (An ``Event.set()`` in a handler can be
    re-entered by a second SIGCHLD on the same thread and deadlock the main thread.)
    """

    def __init__(self, names: tuple[str, ...]) -> None:
        self._r, self._w = os.pipe()
        os.set_blocking(self._r, False)
        os.set_blocking(self._w, False)
        self._old_fd = signal.set_wakeup_fd(self._w)
        self.received: int | None = None
        self._previous: dict[int, object] = {}
        for name in names:
            sig = getattr(signal, name)
            self._previous[sig] = signal.signal(sig, self._on_signal)
        self._previous[signal.SIGCHLD] = signal.signal(signal.SIGCHLD, _ignore)

    def _on_signal(self, signum: int, frame: FrameType | None) -> None:
        if self.received is None:
            self.received = signum

    def wait(self, timeout: float) -> bool:
        """Sleep until a signal arrives or ``timeout`` passes."""
        ready, _, _ = select.select([self._r], [], [], timeout)
        if ready:
            with contextlib.suppress(BlockingIOError):
                while os.read(self._r, 512):
                    pass
        return bool(ready)

    def clear(self) -> None:
        """Nothing to clear: ``wait`` drains the pipe."""

    def restore(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)  # type: ignore[arg-type]
        signal.set_wakeup_fd(self._old_fd)
        os.close(self._r)
        os.close(self._w)


def _ignore(signum: int, frame: FrameType | None) -> None:
    """A Python-level handler, so SIGCHLD reaches the wake-up fd."""


def _open_store(cfg: LaunchConfig) -> tuple[TorchStore, bool]:
    r = cfg.rdzv
    if r.is_host is not False:
        try:
            return host_store(r.endpoint_host, r.endpoint_port, r.read_timeout), True
        except StoreError:
            if r.is_host:
                raise
    return connect_store(r.endpoint_host, r.endpoint_port, r.read_timeout), False


def _policy(cfg: LaunchConfig) -> Policy:
    path = cfg.ft.attribution.policy
    return load_policy(path) if path is not None else DEFAULT_POLICY  # PolicyError: exit 2


def _sources(cfg: LaunchConfig) -> list[AttributionSource]:
    a = cfg.ft.attribution
    return [
        HttpSource(url, name=f"http:{url}", read_timeout=min(5.0, a.timeout), deadline=a.timeout)
        for url in a.http_url
    ]


def launch(cfg: LaunchConfig, base_env: Mapping[str, str]) -> int:
    policy = _policy(cfg)
    log_dir = cfg.log_dir or Path(tempfile.mkdtemp(prefix="resilience_"))
    store, is_leader = _open_store(cfg)
    node_id = f"{cfg.rdzv.local_addr}_{os.getpid()}"
    paths = RunPaths(log_dir / cfg.rdzv.run_id)
    events = EventLog(paths.root / f"events_{node_id}.jsonl", node_id)
    events.emit(
        "agent_started",
        f"ftrun {'leader' if is_leader else 'agent'} on {node_id}: run {cfg.rdzv.run_id}, "
        f"store {store.host}:{store.port}, logs in {paths.root}",
        leader=is_leader,
        store=f"{store.host}:{store.port}",
        log_root=str(paths.root),
    )
    keys = Keys(cfg.rdzv.run_id)
    rdzv = RendezvousClient(
        store, keys, node_id, cfg.rdzv.join_timeout, cfg.rdzv.keep_alive_interval
    )
    closer = _start_closer(cfg, store, keys, events, policy, node_id) if is_leader else None
    signals = _Signals(cfg.signals_to_handle)
    analysis = NodeAnalysis(cfg.rdzv.local_addr) if cfg.ft.attribution.rules else None
    if analysis is not None:
        analysis.start()
    workers = SubprocessWorkers(ConsoleSink(), analysis.bind if analysis else None)
    me = Participant(
        node_id=node_id,
        host=cfg.rdzv.local_addr,
        pid=os.getpid(),
        local_world_size=cfg.workers.nproc_per_node,
        node_rank_hint=cfg.rdzv.node_rank,
    )
    agent = Agent(
        cfg,
        rdzv,
        workers,
        events,
        me,
        paths,
        base_env,
        signals,
        pending_signal=lambda: signals.received,
        exit_barrier=(lambda: _exit_barrier(rdzv, closer, cfg)) if closer else (lambda: None),
        analysis=analysis,
    )
    try:
        return agent.run()
    finally:
        workers.stop(cfg.stop_timeout)
        signals.restore()
        if analysis is not None:
            analysis.close()
        if closer is not None:
            closer.stop()
        events.close()


def _start_closer(
    cfg: LaunchConfig,
    store: TorchStore,
    keys: Keys,
    events: EventLog,
    policy: Policy,
    node_id: str,
) -> RoundCloser:
    r = cfg.rdzv
    master_addr = r.master_addr_for_workers

    def on_event(kind: str, fields: dict[str, object]) -> None:
        if kind == "node_dead":
            message = f"round {fields['round']}: node {fields['node']} is dead ({fields['reason']})"
        elif kind in ("excluded", "exclude_skipped"):
            message = f"round {fields['round']}: {kind} {fields['hosts']}: {fields['reason']}"
            if kind == "excluded":
                hosts = ",".join(str(h) for h in fields["hosts"])  # type: ignore[attr-defined]
                (events.path.parent / "excluded_nodes.txt").write_text(hosts + "\n")
        else:
            message = f"round {fields['round']} closed ({fields['outcome']}): {fields['reason']}"
        events.emit(kind, message, **fields)

    # A TCPStore client serialises its calls on one socket, and the agent's join blocks in a
    # server-side wait: the closer (and the gate it calls) needs a connection of its own.
    closer_store = connect_store(store.host, store.port, r.read_timeout)
    a = cfg.ft.attribution
    sources = _sources(cfg)
    gate = None
    if a.rules or sources:
        gate = AttributionGate(closer_store, keys, a, policy, sources, events.emit)
    closer = RoundCloser(
        closer_store,
        keys,
        BarrierConfig(
            r.min_nodes,
            r.max_nodes,
            cfg.max_restarts,
            r.join_timeout,
            r.last_call_timeout,
            keep_alive_timeout=r.keep_alive_interval * r.keep_alive_max_attempt,
        ),
        master_addr=master_addr,
        make_worker_store=lambda: host_store(master_addr, 0, r.read_timeout),
        on_event=on_event,
        gate=gate,
        leader_id=node_id,
    )
    closer.start()
    RendezvousClient(store, keys, "leader", r.join_timeout).open_round(0, "job start")
    return closer


def _exit_barrier(rdzv: RendezvousClient, closer: RoundCloser | None, cfg: LaunchConfig) -> None:
    """The leader keeps the store up until every agent still in the job has read the outcome.

    That is each live joiner of the last assigned round and of the round closed with
    ``shutdown``, and each spare or late joiner that was waiting for that round to open.
    """
    if closer is None:
        return
    deadline = time.monotonic() + cfg.rdzv.close_timeout
    while time.monotonic() < deadline:
        roll = closer.exit_roll()
        if roll is not None:
            n, ids, dead = roll
            if rdzv.acked((ids | rdzv.waiters(n)) - dead):
                return
        time.sleep(0.05)

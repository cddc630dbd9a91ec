"""The agent loop: join a round, run the workers, observe -> decide -> act, repeat.

The only place (with the round closer) that sleeps, polls or writes the store.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from resilience.agent.analysis import NodeAnalysis
from resilience.agent.env import worker_env
from resilience.agent.events import EventLog
from resilience.agent.policy import Act, Observation, PolicyConfig, decide, describe_exit
from resilience.agent.workers import WorkerGroup, WorkerLaunch
from resilience.config.models import LaunchConfig
from resilience.errors import RendezvousGracefulExitError
from resilience.records import (
    Assignment,
    FailureRecord,
    Participant,
    ShutdownReason,
    WorkerExit,
    encode,
)
from resilience.rendezvous.client import RendezvousClient

__all__ = ["Agent", "RunPaths", "Waker", "exit_code_for"]


class Waker(Protocol):
    """What the loop sleeps on between ticks (woken early by signals and worker exits)."""

    def wait(self, timeout: float) -> bool: ...
    def clear(self) -> None: ...


@dataclass(frozen=True)
class RunPaths:
    root: Path  # <log-dir>/<run-id>

    def cycle_dir(self, cycle: int) -> Path:
        return self.root / f"cycle_{cycle}"

    def rank_log(self, cycle: int, rank: int) -> Path:
        return self.cycle_dir(cycle) / f"rank_{rank}.log"

    def error_file(self, cycle: int, rank: int) -> Path:
        return self.cycle_dir(cycle) / f"rank_{rank}.error.json"


def exit_code_for(reason: str, no_restart_exit_code: int) -> int:
    if reason == ShutdownReason.SUCCEEDED.value:
        return 0
    if reason in (ShutdownReason.STOPPED.value, ShutdownReason.NO_PROGRESS.value):
        return no_restart_exit_code
    return 1


class Agent:
    def __init__(
        self,
        cfg: LaunchConfig,
        rdzv: RendezvousClient,
        workers: WorkerGroup,
        events: EventLog,
        me: Participant,
        paths: RunPaths,
        base_env: Mapping[str, str],
        wake: Waker,
        pending_signal: Callable[[], int | None],
        exit_barrier: Callable[[], None] = lambda: None,
        analysis: NodeAnalysis | None = None,
    ) -> None:
        self.cfg, self.rdzv, self.workers, self.events = cfg, rdzv, workers, events
        self.me, self.paths, self.base_env = me, paths, base_env
        self.wake, self.pending_signal, self.exit_barrier = wake, pending_signal, exit_barrier
        self.policy = PolicyConfig(cfg.max_restarts, cfg.workers.nproc_per_node)
        self.analysis = analysis
        self.timeline: list[dict[str, object]] = []

    def run(self) -> int:
        cycle, me = self.rdzv.first_round(), self.me
        if cycle > 0:
            self.rdzv.announce_waiting(cycle)  # registered before anyone reads the event
            self.events.emit(
                "spare", f"joined late: waiting for round {cycle} as a hot spare", cycle=cycle
            )
        while True:
            try:
                joined = self.rdzv.join(cycle, me)
            except RendezvousGracefulExitError as exc:
                return self._leave(exc.reason, exc.detail)
            a = joined.assignment
            if a is not None and a.excluded:
                return self._excluded(cycle)
            if a is None or a.group_rank is None:
                self.events.emit(
                    "spare", f"cycle {cycle}: this node is a hot spare; waiting", cycle=cycle
                )
                cycle += 1
                continue
            me = me.model_copy(update={"prev_group_rank": a.group_rank})
            self._start(a)
            code = self._monitor(a, joined.slot)
            if code is not None:
                return code
            cycle += 1

    # -- one cycle ---------------------------------------------------------------------------
    def _start(self, a: Assignment) -> None:
        w, c = self.cfg.workers, a.cycle_id
        launches = []
        for local_rank in range(w.nproc_per_node):
            rank = a.rank_offset + local_rank
            err = self.paths.error_file(c, rank)
            shown = w.local_ranks_filter is None or local_rank in w.local_ranks_filter
            redirect = w.redirects[local_rank] & ~w.tee[local_rank]
            launches.append(
                WorkerLaunch(
                    local_rank=local_rank,
                    rank=rank,
                    argv=w.argv,
                    env=worker_env(self.base_env, self.cfg, a, local_rank, err),
                    log_path=self.paths.rank_log(c, rank),
                    error_file=err,
                    console_stdout=shown and not redirect & 1,
                    console_stderr=shown and not redirect & 2,
                )
            )
        if self.analysis is not None:
            self.analysis.start_cycle(c, range(a.rank_offset, a.rank_offset + w.nproc_per_node))
        self.workers.start(launches)
        self.timeline.append({"cycle": c, "start": time.monotonic(), "ranks": len(launches)})
        first, last = a.rank_offset, a.rank_offset + w.nproc_per_node - 1
        self.events.emit(
            "cycle_started",
            f"cycle {c} started: ranks {first}-{last} of {a.world_size}, "
            f"logs in {self.paths.cycle_dir(c)}",
            cycle=c,
            group_rank=a.group_rank,
            world_size=a.world_size,
            master_port=a.master_port,
        )

    def _monitor(self, a: Assignment, slot: int) -> int | None:
        """Run cycle ``a.cycle_id`` to its end; an exit code, or None to rejoin the next round."""
        cycle, reported = a.cycle_id, False
        renew_at = time.monotonic() + self.cfg.rdzv.keep_alive_interval
        exits: list[WorkerExit] = []
        while True:
            for e in self.workers.poll():
                exits.append(e)
                if e.failed:
                    self.events.emit(
                        "worker_failed",
                        f"cycle {cycle}: {describe_exit(e)}",
                        cycle=cycle,
                        **e.model_dump(exclude={"v"}),
                    )
            obs = Observation(
                tuple(exits),
                self.workers.running(),
                self.rdzv.is_open(cycle + 1),
                self.pending_signal(),
                reported,
            )
            d = decide(obs, cycle, self.policy)
            if d.act is Act.CONTINUE:
                if time.monotonic() >= renew_at:
                    self.rdzv.renew(cycle, slot)
                    renew_at = time.monotonic() + self.cfg.rdzv.keep_alive_interval
                self.wake.wait(self.cfg.monitor_interval)
                self.wake.clear()
            elif d.act is Act.LOCAL_SUCCESS:
                reported = True
                self._end_cycle(cycle, "succeeded")
                self.events.emit("local_success", f"cycle {cycle}: {d.reason}", cycle=cycle)
                self.rdzv.report_success(cycle, a.group_world_size)
            elif d.act is Act.RESTART:
                self._record_failure(cycle, exits)
                self.rdzv.open_round(cycle + 1, d.reason)
                self.events.emit("restart", f"cycle {cycle} failed: {d.reason}", cycle=cycle)
                exits += self._stop_workers(cycle)
                self._record_failure(cycle, exits)  # now with the survivors' last words
                self._end_cycle(cycle, d.reason)
                return None
            elif d.act is Act.EXHAUSTED:
                self._record_failure(cycle, exits)
                self.rdzv.shutdown(ShutdownReason.RESTARTS_EXHAUSTED, d.reason, cycle)
                self._stop_workers(cycle)
                self._end_cycle(cycle, d.reason)
                return self._leave(ShutdownReason.RESTARTS_EXHAUSTED.value, d.reason)
            elif d.act is Act.REJOIN:
                record = self.rdzv.read_shutdown()
                exits += self._stop_workers(cycle)
                if record is not None:
                    self._end_cycle(cycle, f"job closed: {record.reason.value}")
                    return self._leave(record.reason.value, record.detail)
                self._record_failure(cycle, exits)
                self.events.emit("rejoin", f"cycle {cycle}: {d.reason}; rejoining", cycle=cycle)
                self._end_cycle(cycle, d.reason)
                return None
            else:  # SIGNALLED
                sig = obs.signal or 15
                self.events.emit("signal", d.reason, cycle=cycle, signal=sig)
                self.workers.signal(sig)
                self._stop_workers(cycle)
                self.rdzv.shutdown(ShutdownReason.FAILED, f"{self.me.node_id}: {d.reason}", cycle)
                self._leave(ShutdownReason.FAILED.value, d.reason)
                return 128 + sig

    def _stop_workers(self, cycle: int) -> list[WorkerExit]:
        if not self.workers.running():
            return []
        t0 = time.monotonic()
        stopped = self.workers.stop(self.cfg.stop_timeout)
        self.events.emit(
            "workers_stopped",
            f"cycle {cycle}: stopped {len(stopped)} workers in {time.monotonic() - t0:.3f}s",
            cycle=cycle,
        )
        return stopped

    def _end_cycle(self, cycle: int, outcome: str) -> None:
        if self.timeline and self.timeline[-1]["cycle"] == cycle:
            self.timeline[-1].update(end=time.monotonic(), outcome=outcome)

    def _excluded(self, cycle: int) -> int:
        path = self.paths.root / "excluded_nodes.txt"
        path.write_text(self.me.host + "\n")
        code = self.cfg.ft.excluded_exit_code
        self.events.emit(
            "excluded",
            f"cycle {cycle}: attribution excluded this node ({self.me.host}); "
            f"exit code {code}; SLURM: --exclude=$(cat {path})",
            cycle=cycle,
            exit_code=code,
        )
        self.rdzv.ack_exit()
        return code

    def _record_failure(self, cycle: int, exits: list[WorkerExit]) -> None:
        record = FailureRecord(
            node_id=self.me.node_id,
            host=self.me.host,
            cycle_id=cycle,
            exits=exits,
            log_paths=[str(self.paths.rank_log(cycle, r)) for r in sorted({e.rank for e in exits})],
            detected_at=time.time(),
            digests=self.analysis.digests_json() if self.analysis is not None else [],
        )
        self.rdzv.store.set(self.rdzv.keys.cycle_failure(cycle, self.me.node_id), encode(record))

    def _leave(self, reason: str, detail: str) -> int:
        code = exit_code_for(reason, self.cfg.ft.no_restart_exit_code)
        self.events.emit(
            "job_closed",
            f"job closed: {reason} ({detail}); exit code {code}",
            reason=reason,
            detail=detail,
            exit_code=code,
        )
        self._print_timeline()  # reads verdicts: before the ack lets the leader's store go
        self.rdzv.ack_exit()
        self.exit_barrier()
        return code

    def _print_timeline(self) -> None:
        """A short table of this node's cycles, with the leader's verdict where there is one."""
        if not self.timeline:
            return
        rows = ["cycle  seconds  outcome"]
        for t in self.timeline:
            c = int(str(t["cycle"]))
            secs = float(str(t.get("end", time.monotonic()))) - float(str(t["start"]))
            rows.append(f"{c:>5}  {secs:7.1f}  {t.get('outcome', 'running')}")
            verdict = self.rdzv.read_verdict(c)
            if verdict:
                rows.append(f"{'':>5}  {'':>7}  verdict: {verdict}")
        self.events.emit(
            "timeline", "cycles of this node:\n" + "\n".join(rows), cycles=self.timeline
        )

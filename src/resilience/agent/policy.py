"""The agent's pure decision: given what one monitor tick observed, what to do next.

``decide(observation, cycle, cfg) -> Decision`` never sleeps, reads the clock or touches the
store; the loop in :mod:`resilience.agent.loop` observes, calls it, and executes the result.
"""

from __future__ import annotations

import signal as _signal
from dataclasses import dataclass
from enum import Enum

from resilience.records import WorkerExit

__all__ = ["Act", "Decision", "Observation", "PolicyConfig", "decide", "describe_exit"]


class Act(str, Enum):
    CONTINUE = "continue"
    RESTART = "restart"  # our worker failed and budget is left: open the next round
    EXHAUSTED = "exhausted"  # our worker failed and no restart is left: close the job
    REJOIN = "rejoin"  # another node opened the next round (or closed the job)
    LOCAL_SUCCESS = "local_success"  # all our workers exited 0: report it, keep watching
    SIGNALLED = "signalled"  # the launcher got a signal: stop workers, close the job


@dataclass(frozen=True)
class PolicyConfig:
    max_restarts: int
    nproc: int


@dataclass(frozen=True)
class Observation:
    exits: tuple[WorkerExit, ...]  # every exit seen so far in this cycle, in order
    running: int
    next_round_open: bool
    signal: int | None
    success_reported: bool


@dataclass(frozen=True)
class Decision:
    act: Act
    reason: str


def describe_exit(e: WorkerExit) -> str:
    if e.signal is not None:
        try:
            name = _signal.Signals(e.signal).name
        except ValueError:
            name = f"signal {e.signal}"
        how = f"was killed by {name}"
    else:
        how = f"exited with code {e.exitcode}"
    detail = f": {e.error_message}" if e.error_message else ""
    return f"rank {e.rank} (local rank {e.local_rank}) {how}{detail}"


def decide(obs: Observation, cycle: int, cfg: PolicyConfig) -> Decision:
    if obs.signal is not None:
        name = _signal.Signals(obs.signal).name
        return Decision(Act.SIGNALLED, f"ftrun received {name}; stopping {obs.running} workers")
    failed = [e for e in obs.exits if e.failed]
    if failed:
        first = describe_exit(failed[0])
        if cycle >= cfg.max_restarts:
            return Decision(
                Act.EXHAUSTED,
                f"{first}; no restart left (--max-restarts {cfg.max_restarts}, cycle {cycle})",
            )
        return Decision(Act.RESTART, f"{first}; restart {cycle + 1} of {cfg.max_restarts}")
    if obs.next_round_open:
        return Decision(Act.REJOIN, f"another node opened cycle {cycle + 1}")
    if obs.running == 0 and not obs.success_reported:
        return Decision(Act.LOCAL_SUCCESS, f"all {cfg.nproc} local workers exited 0")
    return Decision(Act.CONTINUE, "workers running")

"""The agent's pure per-tick decision, walked as a table, and the exit-code mapping."""

from __future__ import annotations

import signal

import pytest

from resilience.agent.loop import exit_code_for
from resilience.agent.policy import Act, Decision, Observation, PolicyConfig, decide
from resilience.records import ShutdownReason, WorkerExit

CFG = PolicyConfig(max_restarts=3, nproc=2)


def _ok(rank: int) -> WorkerExit:
    return WorkerExit(local_rank=rank % 2, rank=rank, exitcode=0, at=1.0)


def _fail(rank: int, code: int = 3) -> WorkerExit:
    return WorkerExit(local_rank=rank % 2, rank=rank, exitcode=code, at=2.0)


def _killed(rank: int, sig: int) -> WorkerExit:
    return WorkerExit(local_rank=rank % 2, rank=rank, exitcode=None, signal=sig, at=3.0)


def _obs(
    exits: tuple[WorkerExit, ...] = (),
    running: int = 2,
    next_round_open: bool = False,
    sig: int | None = None,
    success_reported: bool = False,
) -> Observation:
    return Observation(exits, running, next_round_open, sig, success_reported)


CASES: list[tuple[str, Observation, int, Decision]] = [
    (
        "a signal wins over a failure and an open next round",
        _obs((_fail(4),), running=1, next_round_open=True, sig=signal.SIGTERM),
        0,
        Decision(Act.SIGNALLED, "ftrun received SIGTERM; stopping 1 workers"),
    ),
    (
        "failure with budget left",
        _obs((_ok(4), _fail(5, 3)), running=0),
        0,
        Decision(Act.RESTART, "rank 5 (local rank 1) exited with code 3; restart 1 of 3"),
    ),
    (
        "failure in the last budgeted cycle names the last restart",
        _obs((_fail(4, 1),), running=1),
        2,
        Decision(Act.RESTART, "rank 4 (local rank 0) exited with code 1; restart 3 of 3"),
    ),
    (
        "the first failure is the one reported",
        _obs((_fail(7, 9), _fail(6, 1)), running=0),
        1,
        Decision(Act.RESTART, "rank 7 (local rank 1) exited with code 9; restart 2 of 3"),
    ),
    (
        "our own failure is reported even when a peer already opened the next round",
        _obs((_fail(4, 2),), running=1, next_round_open=True),
        0,
        Decision(Act.RESTART, "rank 4 (local rank 0) exited with code 2; restart 1 of 3"),
    ),
    (
        "failure with no restart left",
        _obs((_fail(4, 1),), running=1),
        3,
        Decision(
            Act.EXHAUSTED,
            "rank 4 (local rank 0) exited with code 1; no restart left (--max-restarts 3, cycle 3)",
        ),
    ),
    (
        "killed by a signal is named",
        _obs((_killed(5, signal.SIGKILL),), running=1),
        0,
        Decision(Act.RESTART, "rank 5 (local rank 1) was killed by SIGKILL; restart 1 of 3"),
    ),
    (
        "a peer opened the next round",
        _obs((), running=2, next_round_open=True),
        1,
        Decision(Act.REJOIN, "another node opened cycle 2"),
    ),
    (
        "after local success, the job closing (next round opened) still means rejoin",
        _obs((_ok(0), _ok(1)), running=0, next_round_open=True, success_reported=True),
        0,
        Decision(Act.REJOIN, "another node opened cycle 1"),
    ),
    (
        "all local workers exited 0",
        _obs((_ok(0), _ok(1)), running=0),
        0,
        Decision(Act.LOCAL_SUCCESS, "all 2 local workers exited 0"),
    ),
    (
        "local success is reported once",
        _obs((_ok(0), _ok(1)), running=0, success_reported=True),
        0,
        Decision(Act.CONTINUE, "workers running"),
    ),
    (
        "some workers done, some running",
        _obs((_ok(0),), running=1),
        0,
        Decision(Act.CONTINUE, "workers running"),
    ),
    (
        "nothing happened yet",
        _obs(),
        0,
        Decision(Act.CONTINUE, "workers running"),
    ),
]


@pytest.mark.parametrize(
    ("obs", "cycle", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES]
)
def test_decide_table(obs: Observation, cycle: int, expected: Decision) -> None:
    assert decide(obs, cycle, CFG) == expected


def test_no_restarts_configured_exhausts_on_the_first_failure() -> None:
    d = decide(_obs((_fail(0, 1),), running=1), 0, PolicyConfig(max_restarts=0, nproc=2))
    assert d.act is Act.EXHAUSTED
    assert "--max-restarts 0" in d.reason


def test_error_message_of_the_worker_is_part_of_the_reason() -> None:
    e = WorkerExit(local_rank=0, rank=0, exitcode=1, at=1.0, error_message="CUDA out of memory")
    d = decide(_obs((e,), running=1), 0, CFG)
    assert d == Decision(
        Act.RESTART,
        "rank 0 (local rank 0) exited with code 1: CUDA out of memory; restart 1 of 3",
    )


@pytest.mark.parametrize(
    ("reason", "code"),
    [
        (ShutdownReason.SUCCEEDED, 0),
        (ShutdownReason.STOPPED, 77),
        (ShutdownReason.NO_PROGRESS, 77),
        (ShutdownReason.RESTARTS_EXHAUSTED, 1),
        (ShutdownReason.FAILED, 1),
    ],
)
def test_exit_code_for(reason: ShutdownReason, code: int) -> None:
    assert exit_code_for(reason.value, 77) == code

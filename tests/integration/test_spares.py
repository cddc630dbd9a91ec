"""Three ftrun agents on loopback with --nnodes 2:3: one is a hot spare."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import pytest
from launch_helpers import TRAIN, alive, events, free_port, read_pids, wait_for


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., list[subprocess.Popen[str]]]]:
    """Start agents (all three by default); whatever happens in the test, none survives it."""
    procs: list[subprocess.Popen[str]] = []
    port, ftrun = free_port(), shutil.which("ftrun")
    assert ftrun

    def run(*train_args: str, nodes: Sequence[int] = (0, 1, 2)) -> list[subprocess.Popen[str]]:
        for node in nodes:
            conf = (f"is_host={int(node == 0)},join_timeout=120,last_call_timeout=1,"
                    "keep_alive_interval=0.5,keep_alive_max_attempt=4")
            procs.append(subprocess.Popen(
                [ftrun, "--nnodes", "2:3", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
                 "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "spares",
                 "--rdzv-conf", conf, "--max-restarts", "2", "--local-addr", f"node{node}",
                 "--log-dir", str(tmp_path / f"node{node}"), str(TRAIN), *train_args],
                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                start_new_session=True,
            ))
            if node == 0:  # the leader first, so the others find its store at once
                wait_for(lambda: bool(events(tmp_path / "node0")), 60, "the leader to start")
        return procs

    yield run
    for p in procs:
        if p.poll() is None:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait()


def _kinds(tmp_path: Path, node: int) -> list[object]:
    return [e["event"] for e in events(tmp_path / f"node{node}")]


def _reap(procs: list[subprocess.Popen[str]]) -> tuple[list[int | None], str]:
    """Every agent's exit code, and for assertion messages the codes with each stderr tail."""
    errs = [p.communicate(timeout=180)[1] for p in procs]
    codes = [p.returncode for p in procs]
    why = "\n".join(f"--- node{n} (rc {c}):\n{e[-3000:]}" for n, (c, e) in
                     enumerate(zip(codes, errs, strict=True)))
    return codes, f"{codes}\n{why}"


def test_success_makes_spares_exit_0(tmp_path: Path, start) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    codes, why = _reap(start("--pid-dir", str(pid_dir)))
    assert codes == [0, 0, 0], why
    assert len(read_pids(pid_dir)) == 2 and not any(alive(p) for p in read_pids(pid_dir))
    spares = [n for n in range(3) if "spare" in _kinds(tmp_path, n)]
    assert len(spares) == 1
    assert "cycle_started" not in _kinds(tmp_path, spares[0])


def test_a_late_spare_reads_the_success_before_the_leader_goes(tmp_path: Path, start) -> None:
    """A node that starts after round 0 closed waits for round 1 without joining any round.

    It is frozen while the job succeeds; the leader must keep the store up until it has read
    the outcome (the exit barrier includes the agents waiting for the next round to open).
    """
    hold = tmp_path / "hold"
    start("--hold-until", str(hold), nodes=(0, 1))
    wait_for(lambda: all("cycle_started" in _kinds(tmp_path, n) for n in (0, 1)), 90,
             "cycle 0 to start on nodes 0 and 1")
    procs = start("--hold-until", str(hold), nodes=(2,))
    wait_for(lambda: "spare" in _kinds(tmp_path, 2), 60, "node 2 to wait as a spare")
    assert _kinds(tmp_path, 2) == ["agent_started", "spare"]  # a late joiner: in no round yet
    procs[2].send_signal(signal.SIGSTOP)
    hold.touch()
    wait_for(lambda: all("job_closed" in _kinds(tmp_path, n) for n in (0, 1)), 90,
             "nodes 0 and 1 to read the success")
    procs[1].communicate(timeout=60)
    assert procs[0].poll() is None, "the leader left while a spare had not read the outcome"
    procs[2].send_signal(signal.SIGCONT)
    codes, why = _reap(procs)
    assert codes == [0, 0, 0], why
    closed = [e for e in events(tmp_path / "node2") if e["event"] == "job_closed"]
    assert [e["reason"] for e in closed] == ["succeeded"], why


def test_killed_agent_is_replaced_by_the_spare(tmp_path: Path, start) -> None:
    procs = start("--fail-cycles", "0", "--mode", "loop")
    wait_for(lambda: sum("cycle_started" in _kinds(tmp_path, n) for n in range(3)) == 2
             and any("spare" in _kinds(tmp_path, n) for n in range(3)), 90, "cycle 0 to run")
    victim = next(n for n in (1, 2) if "cycle_started" in _kinds(tmp_path, n))
    spare = 3 - victim
    procs[victim].kill()
    codes, why = _reap(procs)
    assert codes[0] == 0 and codes[spare] == 0 and codes[victim] == -signal.SIGKILL, why
    started = [e for e in events(tmp_path / f"node{spare}") if e["event"] == "cycle_started"]
    assert [e["cycle"] for e in started] == [1]


def test_hardware_fault_excludes_the_node_and_a_spare_takes_over(tmp_path: Path, start) -> None:
    codes, why = _reap(start("--fail-cycles", "0", "--fail-rank", "1", "--mode", "xid"))
    excluded = [n for n in range(3) if "excluded" in _kinds(tmp_path, n) and n != 0]
    assert len(excluded) == 1, why
    (bad,) = excluded
    assert codes[bad] == 94 and sorted(codes) == [0, 0, 94], why
    assert (tmp_path / f"node{bad}" / "spares" / "excluded_nodes.txt").read_text() == f"node{bad}\n"
    assert (tmp_path / "node0" / "spares" / "excluded_nodes.txt").read_text() == f"node{bad}\n"
    spare = 3 - bad
    started = [e["cycle"] for e in events(tmp_path / f"node{spare}")
               if e["event"] == "cycle_started"]
    assert started == [1]

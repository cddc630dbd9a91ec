"""Three ftrun agents on loopback with --nnodes 2:3: one is a hot spare."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest
from launch_helpers import TRAIN, alive, events, free_port, read_pids, wait_for


@pytest.fixture
def start(tmp_path: Path) -> Iterator[Callable[..., list[subprocess.Popen[str]]]]:
    """Start the three agents; whatever happens in the test, none survives it."""
    procs: list[subprocess.Popen[str]] = []

    def run(*train_args: str) -> list[subprocess.Popen[str]]:
        port, ftrun = free_port(), shutil.which("ftrun")
        assert ftrun
        for node in range(3):
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


def _reap(procs: list[subprocess.Popen[str]]) -> list[int | None]:
    for p in procs:
        p.communicate(timeout=180)
    return [p.returncode for p in procs]


def test_success_makes_spares_exit_0(tmp_path: Path, start) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    codes = _reap(start("--pid-dir", str(pid_dir)))
    assert codes == [0, 0, 0]
    assert len(read_pids(pid_dir)) == 2 and not any(alive(p) for p in read_pids(pid_dir))
    spares = [n for n in range(3) if "spare" in _kinds(tmp_path, n)]
    assert len(spares) == 1
    assert "cycle_started" not in _kinds(tmp_path, spares[0])


def test_killed_agent_is_replaced_by_the_spare(tmp_path: Path, start) -> None:
    procs = start("--fail-cycles", "0", "--mode", "loop")
    wait_for(lambda: sum("cycle_started" in _kinds(tmp_path, n) for n in range(3)) == 2
             and any("spare" in _kinds(tmp_path, n) for n in range(3)), 90, "cycle 0 to run")
    victim = next(n for n in (1, 2) if "cycle_started" in _kinds(tmp_path, n))
    spare = 3 - victim
    procs[victim].kill()
    codes = _reap(procs)
    assert codes[0] == 0 and codes[spare] == 0 and codes[victim] == -signal.SIGKILL
    started = [e for e in events(tmp_path / f"node{spare}") if e["event"] == "cycle_started"]
    assert [e["cycle"] for e in started] == [1]


def test_hardware_fault_excludes_the_node_and_a_spare_takes_over(tmp_path: Path, start) -> None:
    codes = _reap(start("--fail-cycles", "0", "--fail-rank", "1", "--mode", "xid"))
    excluded = [n for n in range(3) if "excluded" in _kinds(tmp_path, n) and n != 0]
    assert len(excluded) == 1, codes
    (bad,) = excluded
    assert codes[bad] == 94 and sorted(codes) == [0, 0, 94]
    assert (tmp_path / f"node{bad}" / "spares" / "excluded_nodes.txt").read_text() == f"node{bad}\n"
    assert (tmp_path / "node0" / "spares" / "excluded_nodes.txt").read_text() == f"node{bad}\n"
    spare = 3 - bad
    started = [e["cycle"] for e in events(tmp_path / f"node{spare}")
               if e["event"] == "cycle_started"]
    assert started == [1]

"""Two ftrun agents on loopback: one leader hosting the store, real gloo workers on both."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
from pathlib import Path

from launch_helpers import TRAIN, alive, events, free_port, read_pids


def _agents(tmp_path: Path, *train_args: str, max_restarts: int = 2) -> list[subprocess.Popen[str]]:
    port = free_port()
    ftrun = shutil.which("ftrun")
    assert ftrun, "the ftrun console script is installed"
    procs = []
    for node, is_host in ((0, 1), (1, 0)):
        procs.append(subprocess.Popen(
            [ftrun, "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
             "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "job2",
             "--rdzv-conf", f"is_host={is_host},join_timeout=120",
             "--max-restarts", str(max_restarts), "--log-dir", str(tmp_path / f"node{node}"),
             str(TRAIN), *train_args],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
        ))
    return procs


def _finish(procs: list[subprocess.Popen[str]]) -> list[tuple[int, str, str]]:
    out = []
    try:
        for p in procs:
            o, e = p.communicate(timeout=180)
            out.append((p.returncode, o, e))
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    return out


def test_failure_on_one_node_restarts_both(tmp_path: Path) -> None:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    procs = _agents(tmp_path, "--fail-cycles", "0", "--fail-rank", "1", "--pid-dir", str(pid_dir))
    results = _finish(procs)
    for code, _, err in results:
        assert code == 0, err[-2000:]
    leader_out, other_out = results[0][1], results[1][1]
    assert "rank 0 cycle 1 allreduce 3" in leader_out
    assert "rank 1 cycle 1 allreduce 3" in other_out
    # The healthy node noticed the other node's failure and rejoined.
    assert any(e["event"] == "rejoin" for e in events(tmp_path / "node0"))
    assert any(e["event"] == "restart" for e in events(tmp_path / "node1"))
    assert not any(alive(p) for p in read_pids(pid_dir))


def test_exhausted_budget_is_broadcast(tmp_path: Path) -> None:
    results = _finish(_agents(tmp_path, "--fail-cycles", "all", max_restarts=0))
    assert [code for code, _, _ in results] == [1, 1]
    assert all("job closed: restarts_exhausted" in err for _, _, err in results)

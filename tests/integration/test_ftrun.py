"""ftrun end to end: real ftrun processes, real gloo workers, real TCPStore on loopback."""

from __future__ import annotations

import json
import os
import signal
import subprocess
from pathlib import Path

import pytest
from launch_helpers import FTRUN, TRAIN, alive, children, events, read_pids, wait_for


def test_restarts_once_and_succeeds(run_ftrun, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    r = run_ftrun("--standalone", "--nproc-per-node", "2", "--max-restarts", "2",
                  "--log-dir", str(logs), str(TRAIN), "--fail-cycles", "0")
    assert r.returncode == 0, r.stderr
    assert "[rank0]:rank 0 cycle 1 allreduce 3" in r.stdout
    assert "cycle 0 failed: rank 1 (local rank 1) exited with code 1; restart 1 of 2" in r.stderr
    (run_dir,) = logs.iterdir()
    assert "injected failure in cycle 0" in (run_dir / "cycle_0" / "rank_1.log").read_text()
    assert "cycle 1 allreduce 3" in (run_dir / "cycle_1" / "rank_1.log").read_text()
    kinds = [e["event"] for e in events(logs)]
    assert kinds.count("cycle_started") == 2
    assert {"restart", "decision", "job_closed", "timeline"} <= set(kinds)


def test_worker_sigkill_is_restarted(run_ftrun, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    r = run_ftrun("--standalone", "--nproc-per-node", "2", "--max-restarts", "1",
                  "--log-dir", str(logs), str(TRAIN), "--fail-cycles", "0", "--mode", "sigkill")
    assert r.returncode == 0, r.stderr
    failed = [e for e in events(logs) if e["event"] == "worker_failed"]
    assert failed[0]["signal"] == signal.SIGKILL and failed[0]["rank"] == 1
    assert "was killed by SIGKILL" in r.stderr


def test_restarts_exhausted_exits_1(run_ftrun, tmp_path: Path) -> None:
    r = run_ftrun("--standalone", "--nproc-per-node", "2", "--max-restarts", "1",
                  "--log-dir", str(tmp_path), str(TRAIN), "--fail-cycles", "all")
    assert r.returncode == 1, r.stderr
    assert "no restart left (--max-restarts 1, cycle 1)" in r.stderr
    assert "job closed: restarts_exhausted" in r.stderr


def test_twenty_consecutive_failures_all_recover(run_ftrun, tmp_path: Path) -> None:
    """torchrun 2.13 fails to recover about half the time (pytorch#167288); we must not.

    The job progresses between failures, so the repeat rule rightly keeps restarting it."""
    cycles = ",".join(str(c) for c in range(20))
    r = run_ftrun("--standalone", "--nproc-per-node", "2", "--max-restarts", "20",
                  "--log-dir", str(tmp_path), str(TRAIN), "--fail-cycles", cycles, "--progress",
                  timeout=400)
    assert r.returncode == 0, r.stderr[-3000:]
    for c in range(21):
        assert f"rank 0 cycle {c} allreduce 3" in r.stdout
    assert r.stderr.count("restart ") >= 20


def test_environment_matches_torchrun(tmp_path: Path) -> None:
    script = tmp_path / "dump.py"
    script.write_text(
        "import json, os, sys\n"
        "base = set(os.environ.get('BASE_KEYS', '').split(','))\n"
        "env = {k: v for k, v in os.environ.items() if k not in base}\n"
        "open(sys.argv[1] + '/' + os.environ['RANK'] + '.json', 'w').write(json.dumps(env))\n"
    )
    env = {**os.environ, "BASE_KEYS": ",".join([*os.environ, "BASE_KEYS"])}
    seen = {}
    for name, cmd in {"torchrun": ["torchrun"], "ftrun": FTRUN}.items():
        out = tmp_path / name
        out.mkdir()
        subprocess.run([*cmd, "--standalone", "--nproc-per-node", "2", str(script), str(out)],
                       env=env, check=True, timeout=120, capture_output=True)
        seen[name] = {int(p.stem): json.loads(p.read_text()) for p in out.glob("*.json")}
    for rank in (0, 1):
        ours, theirs = seen["ftrun"][rank], seen["torchrun"][rank]
        assert set(ours) - set(theirs) == {"RESILIENCE_CYCLE_ID"}
        assert set(theirs) <= set(ours)
        differ = {"TORCHELASTIC_RUN_ID", "TORCHELASTIC_ERROR_FILE", "MASTER_PORT"}
        assert {k: v for k, v in ours.items() if k in theirs and k not in differ} == {
            k: v for k, v in theirs.items() if k not in differ}
        assert ours["RESILIENCE_CYCLE_ID"] == "0"


def _start_hanging(tmp_path: Path) -> tuple[subprocess.Popen[str], Path]:
    pid_dir = tmp_path / "pids"
    pid_dir.mkdir()
    proc = subprocess.Popen(
        [*FTRUN, "--standalone", "--nproc-per-node", "2", "--log-dir", str(tmp_path),
         str(TRAIN), "--fail-cycles", "0", "--mode", "hang", "--pid-dir", str(pid_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True,
    )
    try:
        wait_for(lambda: len(read_pids(pid_dir)) == 2, 60, "both workers to start")
    except AssertionError:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    return proc, pid_dir


def test_sigterm_is_forwarded_and_exit_code_is_143(tmp_path: Path) -> None:
    proc, _ = _start_hanging(tmp_path)
    try:
        pids = children(proc.pid)  # the workers and the log analysis process
        assert len(pids) == 3, pids
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=60)
        assert proc.returncode == 128 + signal.SIGTERM, err
        assert "ftrun received SIGTERM" in err
        wait_for(lambda: not any(alive(p) for p in pids), 10, "workers and helpers to exit")
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)


def test_sigkill_of_ftrun_leaves_no_orphans(tmp_path: Path) -> None:
    """torchrun leaves its workers running when it is SIGKILLed; ftrun's die with it, and so
    does its log analysis process."""
    proc, pid_dir = _start_hanging(tmp_path)
    pids = read_pids(pid_dir)
    helpers = [p for p in children(proc.pid) if p not in pids]
    assert helpers, "the log analysis process"
    pids += helpers
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    try:
        wait_for(lambda: not any(alive(p) for p in pids), 10, "orphaned workers to die")
    finally:
        for p in pids:
            if alive(p):
                os.kill(p, signal.SIGKILL)


@pytest.mark.parametrize(
    ("args", "yaml_text", "message"),
    [
        (["--ft-no-restart-exit-code", "abc"], None, "invalid no_restart_exit_code='abc'"),
        ([], "fault_tolerance:\n  no_such_key: 1\n", "unknown setting 'no_such_key'"),
        ([], "other: 1\n", "no 'fault_tolerance:' block"),
        (["--rdzv-backend", "etcd", "--rdzv-endpoint", "x:1"], None, "--rdzv-backend 'etcd'"),
    ],
)
def test_bad_config_is_one_line_exit_2(
    run_ftrun, tmp_path: Path, args: list[str], yaml_text: str | None, message: str
) -> None:
    if yaml_text is not None:
        cfg = tmp_path / "ft.yaml"
        cfg.write_text(yaml_text)
        args = [*args, "--ft-cfg-path", str(cfg)]
    r = run_ftrun(*args, str(TRAIN), timeout=60)
    assert r.returncode == 2
    assert message in r.stderr
    assert len(r.stderr.strip().splitlines()) == 1 and "Traceback" not in r.stderr


def test_unreachable_store_is_a_clear_error(run_ftrun, tmp_path: Path) -> None:
    r = run_ftrun("--nnodes", "2", "--rdzv-backend", "c10d", "--rdzv-endpoint", "127.0.0.1:1",
                  "--rdzv-conf", "is_host=0,read_timeout=2", str(TRAIN), timeout=60)
    assert r.returncode == 1
    assert "cannot reach the rendezvous store at 127.0.0.1:1" in r.stderr
    assert "Traceback" not in r.stderr and "frame #" not in r.stderr


def test_console_filters_and_redirects(run_ftrun, tmp_path: Path) -> None:
    logs = tmp_path / "logs"
    r = run_ftrun("--standalone", "--nproc-per-node", "2", "--local-ranks-filter", "0",
                  "--log-dir", str(logs), str(TRAIN))
    assert r.returncode == 0, r.stderr
    assert "[rank0]:rank 0 cycle 0" in r.stdout and "[rank1]:" not in r.stdout
    (run_dir,) = logs.iterdir()
    assert "rank 1 cycle 0 allreduce 3" in (run_dir / "cycle_0" / "rank_1.log").read_text()
    r = run_ftrun("--standalone", "--nproc-per-node", "2", "--redirects", "1",
                  "--log-dir", str(logs), str(TRAIN))
    assert r.returncode == 0 and "[rank" not in r.stdout


def test_module_entrypoint_and_help(run_ftrun) -> None:
    r = run_ftrun("--help", timeout=60)
    assert r.returncode == 0
    assert "--ft-cfg-path" in r.stdout and "--nproc-per-node" in r.stdout

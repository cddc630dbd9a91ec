"""Rendezvous-centralized attribution end to end: two ftrun nodes, real gloo workers."""

from __future__ import annotations

import http.server
import os
import shutil
import signal
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from launch_helpers import TRAIN, events, free_port


def _run_two(tmp_path: Path, *extra: str, train: tuple[str, ...]) -> list[tuple[int, str]]:
    port, ftrun = free_port(), shutil.which("ftrun")
    assert ftrun
    procs = [
        subprocess.Popen(
            [ftrun, "--nnodes", "2", "--nproc-per-node", "1", "--rdzv-backend", "c10d",
             "--rdzv-endpoint", f"127.0.0.1:{port}", "--rdzv-id", "attr",
             "--rdzv-conf", f"is_host={int(node == 0)},join_timeout=120", "--max-restarts", "2",
             "--log-dir", str(tmp_path / f"node{node}"), *extra, str(TRAIN), *train],
            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True, start_new_session=True)
        for node in (0, 1)
    ]
    out = []
    try:
        for p in procs:
            _, err = p.communicate(timeout=180)
            out.append((p.returncode, err))
    finally:
        for p in procs:
            if p.poll() is None:
                os.killpg(p.pid, signal.SIGKILL)
    return out


def _decisions(tmp_path: Path) -> list[dict[str, object]]:
    return [e for e in events(tmp_path / "node0") if e["event"] == "decision"]


def _started(tmp_path: Path) -> list[object]:
    return [e["cycle"] for n in (0, 1) for e in events(tmp_path / f"node{n}")
            if e["event"] == "cycle_started"]


def test_deterministic_bug_stops_every_node_without_a_restart(tmp_path: Path) -> None:
    results = _run_two(tmp_path, train=("--fail-cycles", "all", "--mode", "keyerror"))
    assert [code for code, _ in results] == [93, 93], results[1][1][-2000:]
    assert sorted(_started(tmp_path)) == [0, 0]  # zero restarts
    (decision,) = _decisions(tmp_path)
    verdict = decision["verdict"]
    assert isinstance(verdict, dict)
    assert verdict["action"] == "STOP" and verdict["category"] == "user_code"
    assert verdict["culprit_ranks"] == [1]
    assert any("KeyError" in e["text"] for e in verdict["evidence"])
    assert "job closed: stopped" in results[1][1]


def test_transient_network_fault_restarts_and_succeeds(tmp_path: Path) -> None:
    results = _run_two(tmp_path, train=("--fail-cycles", "0", "--mode", "netib"))
    assert [code for code, _ in results] == [0, 0], results[0][1][-2000:]
    (decision,) = _decisions(tmp_path)
    assert decision["stop"] is False
    verdict = decision["verdict"]
    assert isinstance(verdict, dict) and verdict["category"] == "network"
    assert sorted(_started(tmp_path)) == [0, 0, 1, 1]


def test_dry_run_logs_the_stop_verdict_but_restarts(tmp_path: Path) -> None:
    results = _run_two(tmp_path, "--ft-attribution-dry-run",
                       train=("--fail-cycles", "0", "--mode", "keyerror"))
    assert [code for code, _ in results] == [0, 0]
    (decision,) = _decisions(tmp_path)
    assert decision["stop"] is False
    assert "dry run; verdict was STOP user_code" in str(decision["message"])


@pytest.fixture
def hanging_service() -> Iterator[str]:
    """An HTTP server that accepts requests and never answers them."""
    release = threading.Event()

    class Hang(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            release.wait(60)

        do_GET = do_POST

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Hang)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    release.set()
    server.shutdown()


def test_hanging_source_restarts_after_the_decision_timeout(
    tmp_path: Path, hanging_service: str
) -> None:
    results = _run_two(
        tmp_path, "--no-ft-attribution-rules", "--ft-attribution-http-url", hanging_service,
        "--ft-attribution-decision-timeout", "2",
        train=("--fail-cycles", "0", "--mode", "keyerror"),
    )
    assert [code for code, _ in results] == [0, 0]
    (decision,) = _decisions(tmp_path)
    assert decision["stop"] is False
    assert "timed out after 2s waiting for http:" in str(decision["message"])
    assert float(str(decision["latency"])) >= 2.0


def test_one_remote_analysis_per_failed_cycle(tmp_path: Path) -> None:
    """Both agents see the failure; the attribution service analyses the cycle exactly once."""
    import re
    import sys

    import httpx

    serve = subprocess.Popen(
        [sys.executable, "-m", "resilience.cli", "serve", "--allowed-root", str(tmp_path),
         "--port", "0", "--log-level", "warning"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, start_new_session=True)
    try:
        assert serve.stdout is not None
        url = ""
        for line in serve.stdout:  # the startup line names the bound URL
            if m := re.search(r"(http://\S+?)(?:\s|$)", line):
                url = m.group(1)
                break
        assert url, "resilience serve printed its URL"
        results = _run_two(tmp_path, "--ft-attribution-http-url", url,
                           train=("--fail-cycles", "all", "--mode", "keyerror"))
        assert [code for code, _ in results] == [93, 93], [e[-1500:] for _, e in results]
        stats = httpx.get(f"{url}/stats", timeout=10).json()
        assert stats["counters"]["analyses"] == 1, stats
        (decision,) = _decisions(tmp_path)
        assert decision["pending"] == []  # the service answered inside the window
    finally:
        os.killpg(serve.pid, signal.SIGKILL)
        serve.wait()


def test_same_root_without_progress_stops_after_repeat_limit(run_ftrun, tmp_path: Path) -> None:
    r = run_ftrun("--standalone", "--nproc-per-node", "2", "--max-restarts", "5",
                  "--log-dir", str(tmp_path), str(TRAIN), "--fail-cycles", "all")
    assert r.returncode == 93, r.stderr[-2000:]
    decisions = [e for e in events(tmp_path) if e["event"] == "decision"]
    assert [d["stop"] for d in decisions] == [False, True]
    assert "in 2 consecutive cycles with no progress" in str(decisions[-1]["message"])

"""`resilience serve` as a user starts it: flags, env, errors, a ledger that survives kill -9."""

from __future__ import annotations

import os
import signal
import subprocess
from pathlib import Path

import httpx
from svc_live import ServeProcess, resilience_cmd, serve_process, write_cycle


def _serve(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if not k.startswith("RESILIENCE_ATTRSVC_")}
    return subprocess.run([*resilience_cmd(), "serve", *args],
                          capture_output=True, text=True, timeout=60,
                          env={**full_env, **(env or {})})


def test_missing_root_is_one_line_and_exit_2() -> None:
    done = _serve("--port", "0")
    assert done.returncode == 2
    assert done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
    assert "RESILIENCE_ATTRSVC_ALLOWED_ROOT" in done.stderr and "--allowed-root" in done.stderr


def test_bad_env_value_names_the_field_and_fix(tmp_path: Path) -> None:
    done = _serve(env={"RESILIENCE_ATTRSVC_ALLOWED_ROOT": str(tmp_path),
                       "RESILIENCE_ATTRSVC_PORT": "99999"})
    assert done.returncode == 2 and "Traceback" not in done.stderr
    assert done.stderr.count("\n") == 1 and "RESILIENCE_ATTRSVC_PORT" in done.stderr
    assert "0..65535" in done.stderr


def test_serve_answers_and_ledger_survives_kill_9(tmp_path: Path, root: Path) -> None:
    [log] = write_cycle(root, cycle=1, ranks=1, oom_rank=0)
    ledger = tmp_path / "ledger.jsonl"
    args = ("--allowed-root", str(root), "--cache-file", str(ledger))
    params = {"log_path": str(log.relative_to(root)), "cycle_id": 1, "wait": 30}
    with serve_process(*args) as first:
        verdict = httpx.get(f"{first.url}/logs", params=params, timeout=60)
        assert verdict.status_code == 200 and verdict.json()["action"] == "STOP"
        assert httpx.get(f"{first.url}/stats").json()["counters"]["analyses"] == 1
        first.kill9()
    with serve_process(*args) as second:
        again = httpx.get(f"{second.url}/logs", params=params, timeout=60)
        assert again.json() == verdict.json()
        counters = httpx.get(f"{second.url}/stats").json()["counters"]
        assert (counters["analyses"], counters["cache_hits"]) == (0, 1)
        assert second.stop() == -signal.SIGTERM  # graceful, then exits by the signal


def test_env_configures_and_flags_win(root: Path) -> None:
    env = {"RESILIENCE_ATTRSVC_ALLOWED_ROOT": str(root), "RESILIENCE_ATTRSVC_PORT": "99999"}
    srv = ServeProcess("--port", "0", env=env)  # the bad env port is overridden by the flag
    try:
        assert httpx.get(f"{srv.url}/healthz").json()["allowed_root"] == str(root)
    finally:
        assert srv.stop() == -signal.SIGTERM

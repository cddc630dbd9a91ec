"""The app's machinery against a real uvicorn server (in a thread) and a scripted fake engine."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
from svc_fakes import FakeEngine, make_settings, serve

from resilience.attribution import Verdict


def test_healthz_and_docs(client: httpx.Client) -> None:
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/docs").status_code == 200
    paths = client.get("/openapi.json").json()["paths"]
    assert {"/logs", "/v1/attributions", "/stats", "/jobs", "/inflight", "/print"} <= set(paths)


def test_get_logs_returns_verdict_then_serves_from_ledger(
    client: httpx.Client, engine: FakeEngine
) -> None:
    first = client.get("/logs", params={"log_path": "oom.log", "cycle_id": 2, "wait": 10})
    assert first.status_code == 200
    verdict = Verdict.model_validate(first.json())
    assert first.json()["schema"] == "resilience.verdict/1"
    assert (verdict.cycle_id, verdict.action.value) == (2, "STOP")
    again = client.get("/logs", params={"log_path": "oom.log", "cycle_id": 2})
    assert again.json() == first.json()
    stats = client.get("/stats").json()
    assert stats["counters"]["analyses"] == 1 and stats["counters"]["cache_hits"] == 1
    assert stats["latency_samples"] == 1 and stats["latency_p50_s"] is not None
    assert engine.total == 1


def test_post_logs_returns_at_once_and_records_the_job(root: Path) -> None:
    engine = FakeEngine(gated=True)
    with serve(make_settings(root), engine) as client:
        posted = client.post("/logs", json={"log_path": "ok.log", "user": "ana",
                                            "job_id": "j1", "cycle_id": 0})
        assert posted.status_code == 202 and posted.json()["status"] == "pending"
        assert engine.entered.wait(10)
        inflight = client.get("/inflight").json()
        assert [i["log_paths"] for i in inflight] == [[str(root / "ok.log")]]
        pending = client.get("/logs", params={"log_path": "ok.log", "cycle_id": 0})
        assert pending.status_code == 202 and pending.json()["status"] == "pending"
        engine.gate.set()
        done = client.get("/logs", params={"log_path": "ok.log", "cycle_id": 0, "wait": 10})
        assert done.status_code == 200 and done.json()["action"] == "RESTART"
        jobs = client.get("/jobs").json()
        assert jobs[0]["job_id"] == "j1" and jobs[0]["cycles"][0]["user"] == "ana"
    assert engine.total == 1


def test_engine_error_is_422_with_reason(client: httpx.Client, root: Path) -> None:
    (root / "unreadable.log").write_text("x")
    got = client.get("/logs", params={"log_path": "unreadable.log", "wait": 10})
    assert got.status_code == 422
    assert got.json()["error"] == "log_unreadable" and "cannot read" in got.json()["reason"]


def test_compute_timeout_is_504(root: Path) -> None:
    engine = FakeEngine(gated=True)
    with serve(make_settings(root, compute_timeout=0.05), engine) as client:
        got = client.get("/logs", params={"log_path": "ok.log", "wait": 10})
        assert got.status_code == 504 and got.json()["error"] == "analysis_timeout"
        assert client.get("/stats").json()["counters"]["timeouts"] == 1


def test_rate_limit_is_429_with_retry_after(root: Path) -> None:
    settings = make_settings(root, analyze_rate=0.001, analyze_burst=2)
    with serve(settings, FakeEngine()) as client:
        codes = [client.get("/logs", params={"log_path": "ok.log", "wait": 5}).status_code
                 for _ in range(3)]
        assert codes == [200, 200, 429]
        refused = client.get("/logs", params={"log_path": "ok.log"})
        assert int(refused.headers["Retry-After"]) >= 1
        assert refused.json()["error"] == "rate_limited"
        assert client.get("/healthz").status_code == 200  # other endpoints unaffected


def test_print_returns_first_4k(client: httpx.Client, root: Path) -> None:
    (root / "big.log").write_bytes(b"a" * 5000 + b"\xff")
    got = client.get("/print", params={"log_path": "big.log"})
    assert got.status_code == 200 and got.text == "a" * 4096
    assert got.headers["X-Resilience-Truncated"] == "true"
    os.mkfifo(root / "fifo")
    refused = client.get("/print", params={"log_path": "fifo"})
    assert refused.status_code == 400 and "FIFO" in refused.json()["reason"]


def test_v1_is_idempotent_per_job_and_cycle(client: httpx.Client, engine: FakeEngine,
                                            root: Path) -> None:
    body = {"job_id": "job-7", "cycle_id": 3, "log_paths": ["ok.log", "oom.log"]}
    answers = [client.post("/v1/attributions", json=body) for _ in range(3)]
    assert [a.status_code for a in answers] == [202, 202, 202]
    assert answers[-1].json()["triggers"] == 3
    got = client.get("/v1/attributions/job-7/3", params={"wait": 10})
    assert got.status_code == 200
    assert got.json()["reason"] == "fake verdict over 2 files"
    assert got.json()["action"] == "STOP"
    assert client.get("/v1/attributions/job-7/3").json() == got.json()
    assert engine.calls == {("ok.log", 3): 1, ("oom.log", 3): 1}


def test_v1_unknown_cycle_is_404(client: httpx.Client) -> None:
    got = client.get("/v1/attributions/nojob/1")
    assert got.status_code == 404 and got.json()["error"] == "not_found"


def test_v1_refuses_unsafe_paths_before_registering(client: httpx.Client) -> None:
    body = {"job_id": "j", "cycle_id": 0, "log_paths": ["ok.log", "../etc/passwd"]}
    got = client.post("/v1/attributions", json=body)
    assert got.status_code == 400 and "'..'" in got.json()["reason"]
    assert client.get("/v1/attributions/j/0").status_code == 404


def test_changed_file_is_reanalysed_after_grace(root: Path) -> None:
    engine = FakeEngine()
    with serve(make_settings(root, cache_grace=0), engine) as client:
        params = {"log_path": "ok.log", "cycle_id": 1, "wait": 10}
        assert client.get("/logs", params=params).json()["action"] == "RESTART"
        with open(root / "ok.log", "a") as fh:
            fh.write("torch.OutOfMemoryError: CUDA OOM\n")
        assert client.get("/logs", params=params).json()["action"] == "STOP"
    assert engine.total == 2

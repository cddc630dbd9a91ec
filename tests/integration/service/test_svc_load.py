"""Bounded load: concurrency collapses onto one analysis per (file, cycle), with no errors.

Counts come from GET /stats; nothing here depends on timing.
"""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import httpx
from svc_live import write_cycle

LIMITS = httpx.Limits(max_connections=250, max_keepalive_connections=250)


async def _burst(base: str, params: list[dict[str, object]]) -> tuple[list[httpx.Response], float]:
    async with httpx.AsyncClient(base_url=base, timeout=60, limits=LIMITS) as client:
        t0 = time.perf_counter()
        answers = await asyncio.gather(*(client.get("/logs", params=p) for p in params))
        return answers, time.perf_counter() - t0


def test_200_requests_for_20_files_make_20_analyses(live: httpx.Client, root: Path) -> None:
    files = write_cycle(root, cycle=5, ranks=20, oom_rank=7)
    params: list[dict[str, object]] = [
        {"log_path": str(files[i % 20].relative_to(root)), "cycle_id": 5, "wait": 30}
        for i in range(200)
    ]
    answers, took = asyncio.run(_burst(str(live.base_url), params))
    assert [a.status_code for a in answers] == [200] * 200
    by_file = {a.json()["evidence"][0]["text"] for a in answers}
    assert len(by_file) == 20
    stats = live.get("/stats").json()
    assert stats["counters"]["analyses"] == 20
    assert stats["counters"]["analyses_failed"] == 0
    c = stats["counters"]
    assert c["cache_hits"] + c["coalesced"] + c["analyses"] == 200
    print(f"\n200 requests / 20 files: {took:.3f} s, p50 analysis {stats['latency_p50_s']}")


def test_100_identical_requests_make_1_analysis(live: httpx.Client, root: Path) -> None:
    [path] = write_cycle(root, cycle=0, ranks=1, oom_rank=0)
    params: list[dict[str, object]] = [{"log_path": str(path), "cycle_id": 0, "wait": 30}] * 100
    answers, took = asyncio.run(_burst(str(live.base_url), params))
    assert [a.status_code for a in answers] == [200] * 100
    assert all(a.json() == answers[0].json() for a in answers)
    assert answers[0].json()["category"] == "cuda_oom"
    assert live.get("/stats").json()["counters"]["analyses"] == 1
    print(f"\n100 identical requests: {took:.3f} s")


def test_n_triggers_of_one_cycle_make_one_analysis(live: httpx.Client, root: Path) -> None:
    files = write_cycle(root, cycle=2, ranks=8, oom_rank=3)
    body = {"job_id": "job-42", "cycle_id": 2, "log_paths": [str(p) for p in files]}

    async def trigger_all() -> list[httpx.Response]:
        async with httpx.AsyncClient(base_url=str(live.base_url), timeout=60,
                                     limits=LIMITS) as client:
            return await asyncio.gather(*(client.post("/v1/attributions", json=body)
                                          for _ in range(50)))

    assert {a.status_code for a in asyncio.run(trigger_all())} == {202}
    got = live.get("/v1/attributions/job-42/2", params={"wait": 30})
    assert got.status_code == 200
    verdict = got.json()
    assert (verdict["action"], verdict["category"], verdict["culprit_ranks"]) == (
        "STOP", "cuda_oom", [3])
    assert live.get("/stats").json()["counters"]["analyses"] == 1
    [job] = live.get("/jobs").json()
    assert job["cycles"][0]["triggers"] == 50

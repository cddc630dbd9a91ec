"""HttpSource against a real `resilience serve` app on 127.0.0.1:0, and against a closed port."""

from __future__ import annotations

import logging
import socket
import time
from pathlib import Path

import httpx
import pytest
from svc_live import write_cycle

from resilience.sources import AttributionRequest
from resilience.sources.http import HttpSource


def test_verdict_from_a_live_service(live: httpx.Client, root: Path) -> None:
    files = write_cycle(root, cycle=6, ranks=4, oom_rank=2)
    src = HttpSource(str(live.base_url))
    request = AttributionRequest(job_id="job-9", cycle_id=6, log_paths=[str(p) for p in files])
    t0 = time.perf_counter()
    src.trigger(request)
    returned_in = time.perf_counter() - t0
    assert src.wait_idle(timeout=30)
    verdict = src.verdict(6)
    assert verdict is not None
    assert (verdict.action.value, verdict.category.value, verdict.culprit_ranks) == (
        "STOP", "cuda_oom", (2,))
    src.close()
    print(f"\ntrigger() returned in {returned_in * 1e3:.2f} ms")


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_closed_port_gives_no_verdict_and_one_log_line(caplog: pytest.LogCaptureFixture) -> None:
    url = f"http://127.0.0.1:{_closed_port()}"
    src = HttpSource(url, connect_timeout=1.0)
    request = AttributionRequest(job_id="job-9", cycle_id=1, log_paths=["/x/rank_0.log"])
    with caplog.at_level(logging.INFO, logger="resilience.sources.http"):
        src.trigger(request)  # must not raise
        assert src.verdict(1) is None
        assert src.wait_idle(timeout=30)
    assert src.verdict(1) is None
    [record] = [r for r in caplog.records if r.name == "resilience.sources.http"]
    assert record.levelno == logging.WARNING and url in record.getMessage()
    src.close()


def test_refused_paths_give_no_verdict(live: httpx.Client, caplog: pytest.LogCaptureFixture
                                       ) -> None:
    src = HttpSource(str(live.base_url))
    request = AttributionRequest(job_id="j", cycle_id=0, log_paths=["../../etc/passwd"])
    with caplog.at_level(logging.WARNING, logger="resilience.sources.http"):
        src.trigger(request)
        assert src.wait_idle(timeout=30)
    assert src.verdict(0) is None and "HTTP 400" in caplog.text
    src.close()

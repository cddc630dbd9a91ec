from __future__ import annotations

import asyncio
import logging

import pytest

from resilience.errors import LogReadError
from resilience.service.coalesce import Coalescer, wait_for_result
from resilience.service.stats import Stats, percentile


def test_concurrent_starts_share_one_task() -> None:
    async def scenario() -> tuple[int, list[int], int]:
        calls = 0
        release = asyncio.Event()

        async def work() -> int:
            nonlocal calls
            calls += 1
            await release.wait()
            return 42

        co: Coalescer[str, int] = Coalescer()
        started = [co.start("k", work) for _ in range(10)]
        assert [s for _, s in started].count(True) == 1
        assert len({id(t) for t, _ in started}) == 1
        assert await wait_for_result(started[0][0], 0) is None  # still running: pending
        release.set()
        results = [await t for t, _ in started]
        await asyncio.sleep(0)  # let the done callback run
        return calls, results, len(co)

    calls, results, left = asyncio.run(scenario())
    assert (calls, results, left) == (1, [42] * 10, 0)


def test_failed_tasks_leave_the_table_and_bugs_are_logged(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def scenario() -> int:
        async def expected() -> int:
            raise LogReadError("gone")

        async def bug() -> int:
            raise ZeroDivisionError("oops")

        co: Coalescer[str, int] = Coalescer()
        tasks = [co.start("a", expected)[0], co.start("b", bug)[0]]
        await asyncio.gather(*tasks, return_exceptions=True)  # done callbacks run first
        return len(co)

    with caplog.at_level(logging.ERROR, logger="resilience.service.coalesce"):
        assert asyncio.run(scenario()) == 0
    assert [r.exc_info[0] for r in caplog.records if r.exc_info] == [ZeroDivisionError]


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]
    assert [percentile(values, q) for q in (50, 90, 99, 100)] == [50.0, 90.0, 99.0, 100.0]
    assert percentile([], 50) is None
    assert percentile([3.0], 99) == 3.0


def test_stats_snapshot_and_unknown_counter() -> None:
    s = Stats(window=2)
    s.incr("analyses")
    for x in (1.0, 2.0, 3.0):
        s.observe(x)
    snap = s.snapshot(ledger_entries=1, inflight=0)
    assert snap.counters["analyses"] == 1 and snap.latency_samples == 2
    assert snap.latency_max_s == 3.0
    with pytest.raises(KeyError):
        s.incr("nope")

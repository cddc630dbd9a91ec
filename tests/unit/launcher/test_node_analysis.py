"""The node's analysis process (`NodeAnalysis` + `resilience.attribution.pipe`), for real: a
child process fed over a pipe. A pump never waits for it; what it cannot take in time is
queued, then dropped oldest first and counted; it never outlives its launcher."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator

import pytest

from resilience.agent.analysis import MAX_QUEUED, NodeAnalysis
from resilience.agent.logs import LineHook
from resilience.attribution import NodeDigest


def wait_for(condition: Callable[[], bool], timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, f"timed out after {timeout}s waiting for {what}"
        time.sleep(0.02)


def alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


@pytest.fixture
def analysis() -> Iterator[NodeAnalysis]:
    a = NodeAnalysis("host-a")
    a.start()
    try:
        yield a
    finally:
        a.close()


def digests(a: NodeAnalysis) -> dict[tuple[int | None, int], NodeDigest]:
    """(rank, index) -> digest; index 0 is stdout, 1 stderr (the order they are asked in)."""
    out: dict[tuple[int | None, int], NodeDigest] = {}
    for text in a.digests_json():
        d = NodeDigest.model_validate_json(text)
        out[(d.rank, int((d.rank, 0) in out))] = d
    return out


def steps(start: int, n: int) -> bytes:
    return b"".join(b"step %d loss 2.0 tokens/s 1234567\n" % i for i in range(start, start + n))


def feed_while_stopped(a: NodeAnalysis, hook: LineHook, chunks: list[bytes]) -> None:
    """Feed `chunks` while the analysis process is stopped (SIGSTOP): the pump must not wait."""
    os.kill(a.pid, signal.SIGSTOP)
    try:
        feeder = threading.Thread(target=lambda: [hook(0, True, c) for c in chunks])
        feeder.start()
        feeder.join(60)
        assert not feeder.is_alive(), "a pump waited for the analysis process"
    finally:
        os.kill(a.pid, signal.SIGCONT)


def test_each_stream_of_the_cycle_gets_its_digest(analysis: NodeAnalysis) -> None:
    analysis.start_cycle(4, range(8, 10))
    hook = analysis.bind(9)
    assert hook is not None and analysis.bind(3) is None
    hook(9, True, steps(0, 1000) + b"KeyError: 'label'\n")
    hook(9, False, steps(0, 10))
    got = digests(analysis)
    err = got[(9, 1)]
    assert (err.rank, err.node, err.cycle_id, err.lines) == (9, "host-a", 4, 1001)
    assert [(c.text, c.line) for c in err.candidates] == [("KeyError: 'label'", 1001)]
    assert (got[(9, 0)].lines, got[(9, 0)].candidates) == (10, ())
    assert got[(8, 0)].lines == got[(8, 1)].lines == 0


def test_a_pump_of_the_last_cycle_no_longer_feeds(analysis: NodeAnalysis) -> None:
    analysis.start_cycle(0, range(1))
    old = analysis.bind(0)
    assert old is not None
    analysis.start_cycle(1, range(1))
    old(0, True, b"KeyError: 'from the last cycle'\n")
    assert all(d.cycle_id == 1 and d.lines == 0 for d in digests(analysis).values())


def test_what_the_pipe_cannot_take_waits_in_order(analysis: NodeAnalysis) -> None:
    analysis.start_cycle(0, range(1))
    hook = analysis.bind(0)
    assert hook is not None
    chunk = steps(0, 6000)  # ~200 KiB
    chunks = [chunk] * ((3 << 20) // len(chunk)) + [b"KeyError: 'label'\n"]  # > the pipe
    feed_while_stopped(analysis, hook, chunks)
    d = digests(analysis)[(0, 1)]
    total = sum(c.count(b"\n") for c in chunks)
    assert (d.lines, d.truncated, d.last_step) == (total, False, 5999)
    assert [(c.text, c.line) for c in d.candidates] == [("KeyError: 'label'", total)]


def test_past_the_queue_the_oldest_output_is_dropped_and_counted(analysis: NodeAnalysis) -> None:
    analysis.start_cycle(0, range(1))
    hook = analysis.bind(0)
    assert hook is not None
    chunk = steps(0, 6000)
    chunks = [chunk] * ((MAX_QUEUED + (3 << 20)) // len(chunk)) + [b"KeyError: 'label'\n"]
    feed_while_stopped(analysis, hook, chunks)
    d = digests(analysis)[(0, 1)]
    total = sum(c.count(b"\n") for c in chunks)
    assert (d.lines, d.truncated) == (total, True)  # line numbers stay true
    assert [(c.text, c.line) for c in d.candidates] == [("KeyError: 'label'", total)]


def test_a_gap_at_the_end_of_a_stream_is_counted_too(analysis: NodeAnalysis) -> None:
    """The other stream's chunks pushed all of stderr's queued ones out: no later stderr chunk
    carries the gap, the digest request does."""
    analysis.start_cycle(0, range(1))
    hook = analysis.bind(0)
    assert hook is not None
    chunk = steps(0, 6000)
    err = [chunk] * ((3 << 20) // len(chunk))
    out = [chunk] * ((MAX_QUEUED + (1 << 20)) // len(chunk))
    os.kill(analysis.pid, signal.SIGSTOP)
    try:
        for c in err:
            hook(0, True, c)
        for c in out:
            hook(0, False, c)
    finally:
        os.kill(analysis.pid, signal.SIGCONT)
    d = digests(analysis)[(0, 1)]
    assert (d.lines, d.truncated) == (sum(c.count(b"\n") for c in err), True)


def test_a_dead_analysis_process_costs_one_cycle_only(
        analysis: NodeAnalysis, capsys: pytest.CaptureFixture[str]) -> None:
    analysis.start_cycle(0, range(1))
    hook = analysis.bind(0)
    assert hook is not None
    first = analysis.pid
    os.kill(first, signal.SIGKILL)
    wait_for(lambda: not alive(first), 10, "the analysis process to die")
    hook(0, True, b"KeyError: 'label'\n" * 10)  # no exception for the pump
    assert analysis.digests_json() == []
    assert capsys.readouterr().err.count("warning: log analysis stopped") == 1
    analysis.start_cycle(1, range(1))
    assert analysis.pid != first
    hook = analysis.bind(0)
    assert hook is not None
    hook(0, True, b"KeyError: 'label'\n")
    assert digests(analysis)[(0, 1)].candidates[0].text == "KeyError: 'label'"


def test_close_ends_the_process(analysis: NodeAnalysis) -> None:
    pid = analysis.pid
    assert alive(pid)
    analysis.close()
    assert not alive(pid) and analysis.pid == -1


def test_the_process_dies_with_its_launcher() -> None:
    code = ("import sys; from resilience.agent.analysis import NodeAnalysis\n"
            "a = NodeAnalysis('h'); a.start(); print(a.pid, flush=True); sys.stdin.read()\n")
    launcher = subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE, text=True)
    try:
        assert launcher.stdout is not None
        pid = int(launcher.stdout.readline())
        assert alive(pid)
        launcher.kill()
        launcher.wait(10)
        wait_for(lambda: not alive(pid), 10, "the orphaned analysis process to die")
    finally:
        launcher.kill()
        launcher.wait()


def test_a_line_separator_in_a_message_does_not_split_its_digest(analysis: NodeAnalysis) -> None:
    analysis.start_cycle(0, range(1))
    hook = analysis.bind(0)
    assert hook is not None
    hook(0, True, "RuntimeError: bad\u2028thing \x85 here\n".encode())
    d = digests(analysis)[(0, 1)]  # every answer line parses as one digest
    assert d.candidates[0].text == "RuntimeError: bad\u2028thing \x85 here"


def test_a_pump_that_outlives_close_feeds_nothing(analysis: NodeAnalysis) -> None:
    analysis.start_cycle(0, range(1))
    hook = analysis.bind(0)
    assert hook is not None
    analysis.close()
    hook(0, True, b"KeyError: 'late'\n")  # no exception: the pump would report it
    assert analysis.digests_json() == []

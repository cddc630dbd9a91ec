"""The per-line hook (`feed_line_bytes`): same digests as the other inputs whatever the batch
and chunk sizes, and safe from two pump threads at once."""

from __future__ import annotations

import threading
from pathlib import Path

import pytest

from resilience.attribution import Analyzer, read_digests

from .conftest import CORPUS

LOGS = sorted((CORPUS / "logs").iterdir())


@pytest.mark.parametrize("path", LOGS, ids=lambda p: p.name)
def test_every_input_path_gives_the_same_digests(path: Path) -> None:
    raw = path.read_bytes()
    whole = Analyzer()
    whole.feed_bytes(raw)
    expected = whole.digests()
    assert read_digests(path) == expected
    for batch in (1, 3, 4096):  # batch boundaries: look-back timestamps, torchelastic blocks
        lines = Analyzer(batch_lines=batch)
        for line in raw.splitlines(keepends=True):
            lines.feed_line_bytes(line)
        assert lines.digests() == expected, batch
    for size in (1, 50):
        chunks = Analyzer()
        for i in range(0, len(raw), size):
            chunks.feed_bytes(raw[i:i + size])
        assert chunks.digests() == expected, size


def test_feed_line_bytes_with_and_without_newlines_equals_feed() -> None:
    lines = ["[rank0]: iteration 5/10", "[rank1]: KeyError: 'x'", "iteration 6/10\r"]
    a, b = Analyzer(), Analyzer()
    for i, line in enumerate(lines):
        a.feed(line)
        b.feed_line_bytes(line.encode() + (b"\n" if i % 2 else b""))
    assert a.digest() == b.digest()
    assert b.digest().candidates[0].line == 2


def test_two_pump_threads_feed_one_analyzer() -> None:
    a = Analyzer(rank=3, batch_lines=64)
    n = 20_000
    start = threading.Barrier(3)

    def stdout() -> None:
        start.wait()
        for i in range(n):
            a.feed_line_bytes(f"iteration {i}/{n} | loss 2.0\n".encode())

    def stderr() -> None:
        start.wait()
        for i in range(n):
            line = "KeyError: 'missing'\n" if i == n // 2 else f"warmup {i} ok\n"
            a.feed_line_bytes(line.encode())

    threads = [threading.Thread(target=stdout), threading.Thread(target=stderr)]
    for t in threads:
        t.start()
    start.wait()
    while any(t.is_alive() for t in threads):
        a.digest()  # a reader while both threads feed
    for t in threads:
        t.join()
    d = a.digest()
    assert d.lines == 2 * n  # no line lost or counted twice
    assert d.last_step == n - 1
    assert [c.text for c in d.candidates] == ["KeyError: 'missing'"]


@pytest.mark.parametrize("path", LOGS[::4], ids=lambda p: p.name)
def test_queued_chunks_drained_in_slices_give_the_same_digests(path: Path) -> None:
    raw = path.read_bytes()
    whole = Analyzer()
    whole.feed_bytes(raw)
    a = Analyzer(batch_lines=None)
    for i in range(0, len(raw), 37):  # chunks cut anywhere, as a pump's reads are
        a.queue_bytes(raw[i:i + 37])
        if i % 370 == 0:
            a.drain(100)
    assert a.pending_bytes > 0
    assert a.digests() == whole.digests()


def test_a_full_inbox_drops_the_oldest_output_and_says_so() -> None:
    a = Analyzer(rank=2, batch_lines=None, max_pending=4096)
    lines = [f"step {i} loss 2.0\n".encode() for i in range(5000)]
    a.queue_bytes(b"RuntimeError: early, lost with the dropped output\n")
    for line in lines:
        a.queue_bytes(line)
    assert a.pending_bytes <= 4096
    d = a.digest()
    assert d.lines == len(lines) + 1  # dropped lines are still counted
    assert d.truncated
    assert d.last_step == 4999
    assert d.candidates == ()


def test_a_drain_slice_cuts_a_big_chunk_at_a_line_end() -> None:
    a = Analyzer(batch_lines=None)
    big = b"".join(b"step %d loss 2.0\n" % i for i in range(60_000))  # ~1 MiB, one chunk
    a.queue_bytes(big)
    left = a.drain(16384)
    assert len(big) - 16384 <= left < len(big)  # one slice, not the whole chunk
    assert a.lines == big[:len(big) - left].count(b"\n")  # whole lines only
    while a.drain(16384):
        pass
    assert a.digest().last_step == 59_999

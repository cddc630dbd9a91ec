from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.service.ledger import Ledger

VERDICT = {"schema": "resilience.verdict/1", "cycle_id": 1, "action": "STOP"}


class Clock:
    def __init__(self) -> None:
        self.now = 1_000_000.0

    def __call__(self) -> float:
        return self.now


def make(path: Path | None, clock: Clock, **kw: float) -> Ledger:
    opts: dict[str, float] = {"max_entries": 100, "max_age": 3600.0, "grace": 10.0}
    opts.update(kw)
    return Ledger(path, clock=clock, max_entries=int(opts["max_entries"]),
                  max_age=opts["max_age"], grace=opts["grace"])


def test_lookup_matches_path_cycle_mtime_size() -> None:
    clock = Clock()
    led = make(None, clock, grace=0)
    led.record("/r/a.log", 1, mtime_ns=5, size=7, verdict=VERDICT)
    assert led.lookup("/r/a.log", 1, 5, 7) is not None
    assert led.lookup("/r/a.log", 2, 5, 7) is None
    assert led.lookup("/r/b.log", 1, 5, 7) is None


def test_changed_file_is_trusted_in_grace_then_stale() -> None:
    clock = Clock()
    led = make(None, clock, grace=10)
    led.record("/r/a.log", 1, mtime_ns=5, size=7, verdict=VERDICT)
    clock.now += 5
    assert led.lookup("/r/a.log", 1, 6, 9) is not None  # still being flushed: same verdict
    clock.now += 6
    assert led.lookup("/r/a.log", 1, 6, 9) is None  # re-validated by stat: stale
    assert led.lookup("/r/a.log", 1, 5, 7) is not None


def test_survives_reload_and_ignores_torn_last_line(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    clock = Clock()
    led = make(path, clock)
    led.record("/r/a.log", 1, 5, 7, VERDICT)
    led.record("/r/b.log", None, 6, 8, VERDICT)
    with open(path, "ab") as fh:
        fh.write(b'{"v": 1, "path": "/r/c.log", "cyc')  # SIGKILL in the middle of a write
    again = make(path, clock)
    assert len(again) == 2 and again.skipped_on_load == 1
    assert again.lookup("/r/b.log", None, 6, 8) is not None
    again.record("/r/c.log", 2, 1, 1, VERDICT)  # appends after a compacted, whole file
    lines = path.read_text().splitlines()
    assert [json.loads(line)["path"] for line in lines] == ["/r/a.log", "/r/b.log", "/r/c.log"]


def test_later_lines_win_on_reload(tmp_path: Path) -> None:
    path = tmp_path / "ledger.jsonl"
    clock = Clock()
    led = make(path, clock, grace=0)
    led.record("/r/a.log", 1, 5, 7, VERDICT)
    led.record("/r/a.log", 1, 6, 9, {**VERDICT, "action": "RESTART"})
    entry = make(path, clock, grace=0).lookup("/r/a.log", 1, 6, 9)
    assert entry is not None and entry.verdict["action"] == "RESTART"


def test_eviction_by_count_and_age(tmp_path: Path) -> None:
    clock = Clock()
    led = make(tmp_path / "l.jsonl", clock, max_entries=2, max_age=100)
    for i in range(3):
        led.record(f"/r/{i}.log", 0, 1, 1, VERDICT)
    assert led.lookup("/r/0.log", 0, 1, 1) is None and len(led) == 2
    clock.now += 101
    assert led.lookup("/r/2.log", 0, 1, 1) is None
    assert len(make(tmp_path / "l.jsonl", clock, max_entries=2, max_age=100)) == 0


def test_journal_is_compacted_while_running(tmp_path: Path) -> None:
    path = tmp_path / "l.jsonl"
    led = make(path, Clock(), max_entries=3)
    for i in range(100):
        led.record("/r/a.log", i % 2, i, i, VERDICT)
    assert len(path.read_text().splitlines()) <= 2 * 3 + 16 + 1


def test_unwritable_journal_keeps_serving_from_memory(tmp_path: Path) -> None:
    path = tmp_path / "d" / "l.jsonl"
    path.parent.mkdir()
    led = make(path, Clock())
    path.unlink()
    os.rmdir(path.parent)  # the journal's directory is gone
    led.record("/r/a.log", 1, 5, 7, VERDICT)
    assert led.lookup("/r/a.log", 1, 5, 7) is not None


@settings(max_examples=50, deadline=None)
@given(garbage=st.lists(st.binary(max_size=80), max_size=10))
def test_loading_garbage_never_raises(garbage: list[bytes]) -> None:
    with tempfile.TemporaryDirectory() as d:
        path = Path(d) / "l.jsonl"
        path.write_bytes(b"\n".join(garbage))
        led = make(path, Clock())
        led.record("/r/a.log", 1, 5, 7, VERDICT)
        assert make(path, Clock()).lookup("/r/a.log", 1, 5, 7) is not None

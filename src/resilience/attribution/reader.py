"""Offline entry points built on `Analyzer` + `combine`: lines, files, per-rank directories.

Files are read in big binary chunks through the same prefilter as the streaming path. Memory is
bounded by the tail window: for a file bigger than `tail_bytes`, only its last `tail_bytes`
are read (line numbers then count from the window's first full line, and the reason says so).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path

from resilience.errors import AttributionError, LogReadError

from .analyzer import Analyzer
from .combine import DEFAULT_POLICY, combine
from .digest import NodeDigest
from .policy import Policy
from .repeat import CycleRecord, apply_repeat_rule, made_progress
from .verdict import Verdict

__all__ = ["DEFAULT_TAIL_BYTES", "analyze_file", "analyze_lines", "analyze_path",
           "read_digests", "verdict_for_cycles"]

DEFAULT_TAIL_BYTES = 64 << 20
CHUNK_BYTES = 16 << 20
_MAX_LINE = 1 << 20
_RANK_FILE = re.compile(r"rank_(\d{1,6})\.log$")
_CYCLE_DIR = re.compile(r"^cycle_(\d{1,9})$")


def verdict_for_cycles(
    cycles: Sequence[Sequence[NodeDigest]],
    cycle: int | None = None,
    policy: Policy = DEFAULT_POLICY,
    node_of_rank: Mapping[int, str] | None = None,
) -> Verdict:
    """Verdict for one cycle (default: the last) of a series, with the repeat rule applied
    over the cycles before it. Each item holds the digests of one cycle (any number of nodes).
    """
    if not cycles:
        raise AttributionError("no input to analyse")
    ids = [_cycle_id(group) for group in cycles]
    if cycle is None:
        index = len(cycles) - 1
    elif cycle in ids:
        index = len(ids) - 1 - ids[::-1].index(cycle)
    else:
        raise AttributionError(f"cycle {cycle} not found; cycles present: "
                               f"{', '.join(map(str, sorted(set(ids))))}")
    first = max(0, index - policy.repeat_limit + 1)
    history: list[CycleRecord] = []
    for i in range(first, index):
        v = combine(cycles[i], ids[i], policy, node_of_rank)
        history.append(CycleRecord.of(v, i > 0 and made_progress(cycles[i - 1], cycles[i])))
    current = combine(cycles[index], ids[index], policy, node_of_rank)
    progressed = index > 0 and made_progress(cycles[index - 1], cycles[index])
    verdict = apply_repeat_rule(history, current, progressed, policy.repeat_limit)
    if any(d.truncated for d in cycles[index]):
        verdict = verdict.model_copy(update={
            "reason": verdict.reason + " (read the tail window only; line numbers count from it)"})
    return verdict


def _cycle_id(group: Sequence[NodeDigest]) -> int:
    return next((d.cycle_id for d in group if d.cycle_id is not None), 0)


def analyze_lines(
    lines: Iterable[str], *, cycle: int | None = None, policy: Policy = DEFAULT_POLICY,
    rank: int | None = None, node: str | None = None,
) -> Verdict:
    """Verdict for an in-memory log (one stream; cycle markers split it)."""
    analyzer = Analyzer(rank=rank, node=node)
    for line in lines:
        analyzer.feed(line)
    return verdict_for_cycles([[d] for d in analyzer.digests()], cycle, policy)


def read_digests(
    path: str | Path, *, tail_bytes: int | None = DEFAULT_TAIL_BYTES, rank: int | None = None,
    cycle_id: int = 0,
) -> tuple[NodeDigest, ...]:
    """Per-cycle digests of one file (bounded memory). Raises LogReadError."""
    path = Path(path)
    if rank is None and (m := _RANK_FILE.search(path.name)):
        rank = int(m.group(1))
    if (m := _CYCLE_DIR.match(path.parent.name)) and cycle_id == 0:
        cycle_id = int(m.group(1))
    try:
        with path.open("rb") as f:
            size = f.seek(0, 2)
            skip = max(0, size - tail_bytes) if tail_bytes else 0
            analyzer = Analyzer(rank=rank, cycle_id=cycle_id, truncated=skip > 0)
            f.seek(skip)
            head = f.read(CHUNK_BYTES)
            if skip:
                head = head[head.find(b"\n") + 1:] if b"\n" in head else b""
            chunk = head
            while chunk:
                analyzer.feed_bytes(chunk)
                # the rest of the chunk's last line on its own: the analyzer then joins two
                # short pieces instead of copying the next 16 MiB chunk behind a partial line
                analyzer.feed_bytes(f.readline(_MAX_LINE))
                chunk = f.read(CHUNK_BYTES)
    except OSError as exc:
        raise LogReadError(f"{path}: cannot read log ({exc.strerror or exc}); check the path "
                           "and its permissions") from exc
    return analyzer.digests()


def analyze_file(
    path: str | Path, cycle: int | None = None, tail_bytes: int | None = DEFAULT_TAIL_BYTES,
    *, policy: Policy = DEFAULT_POLICY, rank: int | None = None,
) -> Verdict:
    """Verdict for one log file (default: its last cycle)."""
    digests = read_digests(path, tail_bytes=tail_bytes, rank=rank)
    return verdict_for_cycles([[d] for d in digests], cycle, policy)


def _dir_cycles(path: Path, tail_bytes: int | None) -> list[list[NodeDigest]]:
    subdirs = sorted((int(m.group(1)), p) for p in path.iterdir()
                     if p.is_dir() and (m := _CYCLE_DIR.match(p.name)))
    groups: list[tuple[int, Path]] = subdirs or [(0, path)]
    cycles = []
    for cid, folder in groups:
        files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix in (".log", ".txt"))
        group = [read_digests(f, tail_bytes=tail_bytes, cycle_id=cid)[-1] for f in files]
        if group:
            cycles.append(group)
    if not cycles:
        raise LogReadError(f"{path}: no *.log files found; pass a log file or a directory of "
                           "rank_<r>.log files")
    return cycles


def analyze_path(
    path: str | Path, cycle: int | None = None, tail_bytes: int | None = DEFAULT_TAIL_BYTES,
    *, policy: Policy = DEFAULT_POLICY,
) -> Verdict:
    """A file, or a directory of per-rank logs (`cycle_<c>/rank_<r>.log`, one verdict)."""
    path = Path(path)
    if path.is_dir():
        try:
            return verdict_for_cycles(_dir_cycles(path, tail_bytes), cycle, policy)
        except OSError as exc:
            raise LogReadError(f"{path}: cannot list directory ({exc.strerror or exc})") from exc
    return analyze_file(path, cycle, tail_bytes, policy=policy)

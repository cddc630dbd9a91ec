"""Mutable per-cycle accumulator behind `Analyzer`; frozen into a `NodeDigest` on demand."""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from itertools import pairwise

from .digest import STALE_AFTER, Candidate, ElasticRoot, NodeDigest
from .lines import LineInfo, pid_of
from .markers import parse_progress
from .mentions import a_failure, quoted
from .patterns import FINITE_ASSERT, asserts_finite, ray_node_ip
from .progress import Stretch
from .rankmap import RankMap
from .records import (
    agent_exit,
    composer_exit,
    deepspeed_exit,
    mpirun_exit,
    ray_exit,
    spawn_exit,
    srun_exit,
)
from .registry import Role, match_content
from .sections import Sections
from .verdict import Category

__all__ = ["CycleState"]

# a Markdown heading (`### Crash with "Bus error" on rank 2`): a paste's title quoting the
# error, not the error (gdb's `#0 0x7f..` frames have no space after the `#`)
_HEADING = re.compile(r"#{1,6} ")
_MAX_TEXT = 4096
_MAX_ROOT_CAUSES = 4  # torchelastic `Root Cause` entries kept per cycle
_MAX_EXITS = 32  # other launcher failure records kept per source and cycle
_MAX_RECORD_TEXT = 1024
# lines from a torchelastic agent's `failed (exitcode` line to srun's line for its task, when
# a paste keeps the two together: further apart (a traceback between), another launcher may
# have ended first
_AGENT_TO_SRUN = 3


@dataclass
class CycleState:
    """What one stream said so far about one cycle."""

    cycle_id: int
    first_line: int
    rank: int | None
    node: str | None
    max_candidates: int
    truncated: bool = False
    from_marker: bool = False
    candidates: dict[Role, list[Candidate]] = field(default_factory=dict)
    # (rank, pid of a line without a rank, pattern) of the candidates kept
    seen: set[tuple[int | None, int | None, str]] = field(default_factory=set)
    replaced: set[tuple[int | None, int | None, str]] = field(default_factory=set)  # ... once
    elastic: list[ElasticRoot] = field(default_factory=list)
    dropped: int = 0
    last_step: int | None = None
    last_progress_line: int | None = None
    checkpoint_line: int | None = None
    checkpoint_time: float | None = None  # the timestamp on the checkpoint line, if any
    progress_seq: int = 0
    ranks: RankMap = field(default_factory=RankMap)
    # where in a pasted log a line is: the host and title of its section (`sections.py`)
    sections: Sections = field(init=False)

    def __post_init__(self) -> None:
        self.sections = Sections(self.ranks, self.node)

    def has_content(self) -> bool:
        return bool(self.candidates or self.elastic or self.progress_seq)

    def has_activity(self) -> bool:
        """Whether an attempt of its own shows: progress or a launcher's record (an error
        line alone may be a straggler of the attempt before, or a note about it)."""
        return bool(self.elastic or self.progress_seq)

    def add_line(self, info: LineInfo, raw: str, lineno: int,
                 look_back: Callable[[], float | None], above: Callable[[], bytes]) -> None:
        """Record a prefiltered line: a candidate if a pattern matches, else maybe progress.

        `look_back` finds a timestamp on earlier lines; `above` gives the input just above the
        line (a traceback's source line); both are called only for candidates.
        """
        if self.sections.command(info) or self.sections.structure(raw):
            return
        if info.host is None and (ip := ray_node_ip(info.content)):
            info = info._replace(host=ip)  # Ray's memory monitor: the node of the pid it names
        own_host = info.host
        info = self.sections.place(info)
        rank = info.rank if info.rank is not None else self.rank
        local = rank is None and info.local_rank is not None
        if local:
            rank = info.local_rank
        text_pid = pid_of(info.content) if rank is None and (
            "pid" in info.content or "Process " in info.content) else None
        if text_pid is not None:  # Ray's `(pid=1957, ...)`, an OOM's `Process 48210 has`
            rank = self.ranks.rank_of_pid(text_pid, info.host)
        if rank is None and info.host and ("PCI:" in info.content or "GPU 0" in info.content):
            rank = self.ranks.rank_of_gpu(info.content, info.host)
        if rank is None and not local:
            rank = self.sections.titled_rank(info)
        self.ranks.add(info, rank, local)
        info = self.sections.relay(info, own_host)
        self._records(info, raw, lineno)
        pattern = None if info.level in ("I", "W") or _HEADING.match(info.content) \
            else match_content(info.content)
        if pattern is not None and quoted(pattern.compiled, info):
            pattern = None  # prose that quotes the error: `... dies with "Bus error" on ...`
        if pattern is None:
            self.add_progress(info.content, lineno, info.timestamp)
            return
        if pattern.id == "py_user_exc" and info.content.startswith("AssertionError") \
                and asserts_finite(above()):
            pattern = FINITE_ASSERT  # `assert torch.isfinite(loss)` failed: a NaN/Inf loss
        # two ranks' NCCL lines without a rank prefix stay two: their pids tell them apart
        # (`resolve` gives each the rank of its pid, from the tables of the whole stream)
        pid = (info.pid if info.pid is not None else text_pid) if rank is None else None
        key = (rank, pid, pattern.id)
        bucket = self.candidates.setdefault(pattern.role, [])
        # A numerical fault after an earlier one that training got past, with a checkpoint
        # saved since (two attempts in one log): the spec's "checkpoint saved after the
        # previous failure" (RESTART). `first_line` says so.
        first_line = self._survived_numerical() if pattern.category is Category.NUMERICAL \
            else None
        if not self._room(key, bucket, first_line):
            return
        self.seen.add(key)
        bucket.append(Candidate(
            rank=rank, node=info.host or self.node, line=lineno,
            text=raw.rstrip("\r\n")[:_MAX_TEXT],
            timestamp=info.timestamp if info.timestamp is not None else look_back(),
            pattern=pattern.id,
            category=pattern.category, role=pattern.role, kind=pattern.kind, tier=pattern.tier,
            timeout=pattern.timeout, confidence=pattern.confidence, all_ranks=pattern.all_ranks,
            summary=pattern.summary,
            progress_seq=self.progress_seq, first_line=first_line, local_rank=local,
            task_rank=info.rank_is_task and rank == info.task, task=info.task, pid=pid,
            base=self.ranks.section_base if local else None,
        ))

    def carry_paste(self, before: CycleState) -> None:
        """A paste's own words outlive a restart its log shows: which host has which node
        rank, the processes per node, and the section title and code block the lines are in."""
        self.ranks.layout = before.ranks.layout
        self.sections.carry(before.sections)

    def paste_line(self, text: str) -> None:
        """A line between the candidates that names a node or fences a code block
        (`paste.node_lines`): which host has which node rank, a section title, the end of the
        titled section's block."""
        self.sections.paste_line(text)

    def _room(self, key: tuple[int | None, int | None, str], bucket: list[Candidate],
              first_line: int | None) -> bool:
        """Whether a candidate with `key` is kept (making room in `bucket` for it)."""
        if key not in self.seen:
            if len(bucket) < self.max_candidates:
                return True
            self.dropped += 1
            return False
        # The same fault again: keep the first. A fault the job survived again and again is
        # not fatal by recurring; only the numerical case (`first_line`, it can only RESTART)
        # replaces it, and a first occurrence of no rank that training went on after (a
        # paste's title quoting the error) is replaced once, by the next one. A ranked one
        # stays: a rank's error caught and logged twice must not hide a hang after it.
        if first_line is None and (key[0] is not None or key in self.replaced):
            return False
        index = next(i for i, c in enumerate(bucket) if (c.rank, c.pid, c.pattern) == key)
        if first_line is None and self.progress_seq - bucket[index].progress_seq < STALE_AFTER:
            return False
        self.replaced.add(key)
        del bucket[index]
        return True

    def _records(self, info: LineInfo, raw: str, lineno: int) -> None:
        """Launchers' failure records and rank maps on this line (`records.py`)."""
        content = info.content
        if "srun: error: " in content and (r := srun_exit(content, raw, lineno)):
            self.add_records([r])
        if "exits with return code" in content and (r := deepspeed_exit(
                content, raw, lineno, info.host or self.node, info.timestamp)):
            self.add_records([r])
        if "failed (exitcode" in content and (r := agent_exit(
                content, raw, lineno, info.host or self.node, info.timestamp)):
            self.add_records([r])
        if "RayTaskError(" in content and (r := ray_exit(content, raw, lineno)):
            self.add_records([r])
        if "exited with code" in content and (r := composer_exit(
                content, raw, lineno, info.host or self.node)):
            self.add_records([r])
        if "rocess" in content and (r := mpirun_exit(content, raw, lineno)):
            self.add_records([r])
        if content.startswith("-- Process ") and (r := spawn_exit(
                content, raw, lineno, info.host or self.node)):
            self.add_records([r])

    def _survived_numerical(self) -> int | None:
        """Line of the first numerical fault that progress and a later checkpoint left
        behind, if any. A failure, not a mention of one (`mentions.a_failure`)."""
        ckpt = self.checkpoint_line
        if ckpt is None:
            return None
        return min((c.first_line or c.line for cs in self.candidates.values() for c in cs
                    if c.category is Category.NUMERICAL and c.line < ckpt
                    and self.progress_seq - c.progress_seq >= STALE_AFTER
                    and a_failure(c)), default=None)

    def add_progress(self, content: str, lineno: int, timestamp: float | None = None) -> None:
        """Count an iteration / step / checkpoint line."""
        steps, ckpt = parse_progress(content)
        for step in steps:
            if self.last_step is None or step > self.last_step:
                self.last_step, self.last_progress_line = step, lineno
                self.progress_seq += 1
        if ckpt:
            self.checkpoint_line, self.checkpoint_time = lineno, timestamp
            self.progress_seq += 1

    def add_stretch(self, p: Stretch, line_of: Callable[[int], int],
                    time_of: Callable[[int], float | None]) -> None:
        """Count the progress of a stretch of lines (`progress.scan_progress`); `line_of`
        turns a buffer offset into a line number, `time_of` into the timestamp of that line."""
        if p.top is not None:
            self.last_step, self.last_progress_line = p.top, line_of(p.top_at)
        if p.saves:
            self.checkpoint_line, self.checkpoint_time = line_of(p.save_at), time_of(p.save_at)
        self.progress_seq += p.rises + p.saves

    def wants(self, source: str) -> bool:
        """Whether a record of `source` would still be kept (bounded per source)."""
        cap = _MAX_ROOT_CAUSES if source == "root_cause" else _MAX_EXITS
        return sum(e.source == source for e in self.elastic) < cap

    def add_records(self, records: list[ElasticRoot]) -> None:
        """Keep launchers' failure records (`records.py`), bounded per source."""
        base = self.ranks.section_base
        for r in records:
            if self.wants(r.source):
                update: dict[str, object] = {}
                if len(r.text) > _MAX_RECORD_TEXT:
                    update["text"] = r.text[:_MAX_RECORD_TEXT]
                if base is not None and r.rank is None and r.local_rank is not None:
                    update["base"] = base
                self.elastic.append(r.model_copy(update=update) if update else r)

    def _launchers_per_node(self, records: list[ElasticRoot]) -> bool:
        """Whether the workers were started by torchelastic (a local rank's `[default3]:`
        prefix, its agent's `global_ranks=`, its failure records): under mpirun, one agent per
        node, whose MPI rank is no worker's."""
        return bool(self.ranks.locals_seen or self.ranks.agent_globals) or any(
            e.source in ("failure", "root_cause") for e in records)

    def _task_is_node(self, c: Candidate) -> Candidate:
        """A candidate of a log whose srun tasks are nodes: its task id is no rank, and it
        names the node srun names for that task."""
        update: dict[str, object] = {"rank": None, "task_rank": False} if c.task_rank else {}
        node = self.ranks.task_hosts.get(c.task) if c.task is not None else None
        if c.node is None and node:
            update["node"] = node
        return c.model_copy(update=update) if update else c

    def to_digest(self, last_line: int) -> NodeDigest:
        cands = [c for role in Role for c in self.candidates.get(role, ())]
        # in line order whatever the input's chunking (a Root Cause block completes late)
        records = _agents_hosts(sorted(self.elastic, key=lambda e: (e.line, e.source)))
        rank_hosts, pid_ranks = self.ranks.final()
        if self.ranks.layout.one_node:  # `torchrun --standalone`: every rank on one host
            hosts = {h for h in (*rank_hosts.values(), *(e.host for e in records)) if h}
            rank_hosts = {**self.ranks.layout.on_one_node(hosts, self.ranks.max_rank),
                          **rank_hosts}
        if self.ranks.aliases:  # a node that Ray names by its IP and NCCL by its name: the name
            name = self.ranks.name
            cands = [c if name(c.node) == c.node else c.model_copy(update={"node": name(c.node)})
                     for c in cands]
            records = [e if name(e.host) == e.host else e.model_copy(update={"host": name(e.host)})
                       for e in records]
        if not self.ranks.tasks_are_ranks:  # srun started one launcher per node
            cands = [self._task_is_node(c) for c in cands]
            records = [e.model_copy(update={"rank": None}) if e.source == "srun" else e
                       for e in records]
        if self._launchers_per_node(records):  # mpirun's ranks are then node indices
            records = [e.model_copy(update={"rank": None}) if e.source == "mpirun" else e
                       for e in records]
        return NodeDigest(
            cycle_id=self.cycle_id, node=self.node, rank=self.rank, first_line=self.first_line,
            lines=max(0, last_line - self.first_line + 1), candidates=tuple(cands),
            elastic_roots=tuple(records), last_step=self.last_step,
            last_progress_line=self.last_progress_line, checkpoint_line=self.checkpoint_line,
            checkpoint_time=self.checkpoint_time, progress_seq=self.progress_seq,
            dropped=self.dropped, truncated=self.truncated,
            rank_hosts=rank_hosts,
            pid_hosts={pid: self.ranks.name(h) or "" for pid, h in self.ranks.pid_hosts.items()},
            pid_ranks=pid_ranks, host_ranks=dict(self.ranks.host_ranks),
            agent_ranks=list(self.ranks.agent_globals), node_bases=self.ranks.node_bases(),
        )


def _agents_hosts(records: list[ElasticRoot]) -> list[ElasticRoot]:
    """`records` (in line order), a torchelastic agent's `failed (exitcode` record without a
    host given the host of srun's first record, pasted right below it (a ChildFailedError
    summary names the host itself): the first launcher srun saw end is the one whose worker
    failed first. Not where srun's records come in a burst (`task 0`, `task 1`, ... as every
    launcher ended): their order says nothing."""
    out = list(records)
    sruns = [e for e in records if e.source == "srun"]
    for i, (agent, srun) in enumerate(pairwise(records)):
        if agent.source == "failure" and agent.host is None and srun.source == "srun" \
                and srun is sruns[0] and srun.line - agent.line <= _AGENT_TO_SRUN and not any(
                    0 < abs(e.line - srun.line) <= 2 for e in sruns):
            out[i] = agent.model_copy(update={"host": srun.host})
    return out

"""The node digest (`resilience.digest/1`): what one node's streams said about one cycle.

Small, bounded (at most `max_candidates` per role), JSON-serialisable; the agent writes it into
`cycle/<c>/failure/<node>` and the leader's `combine()` turns all digests into a verdict.
"""

from __future__ import annotations

from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

from .registry import Role
from .verdict import Category

__all__ = ["DIGEST_SCHEMA", "RECORD_SOURCES", "STALE_AFTER", "Candidate", "ElasticRoot",
           "NodeDigest"]

RECORD_SOURCES: Final = ("root_cause", "failure", "srun", "deepspeed", "spawn", "ray", "mpirun",
                         "composer")

DIGEST_SCHEMA: Final = "resilience.digest/1"
# Readers ignore fields they do not know: an agent of a newer version may send more (optional
# fields only; an incompatible change gets a new schema name). Digests travel between the
# agents of one job through the store.
_FROZEN = ConfigDict(frozen=True, extra="ignore")


# A candidate followed by this many progress advances (new highest step, checkpoint saved) in
# its stream is stale: training went on after it, so it did not end the cycle.
STALE_AFTER = 2


class Candidate(BaseModel):
    """One line that matched a registry pattern (verbatim text, capped at 4 KiB)."""

    model_config = _FROZEN

    rank: int | None = None
    node: str | None = None
    line: int
    text: str
    timestamp: float | None = None
    pattern: str
    category: Category
    role: Role
    kind: str = ""
    tier: int = 1
    timeout: bool = False
    confidence: float = 0.5
    all_ranks: bool = False
    progress_seq: int = 0  # number of progress advances seen before this line
    # a post-mortem status (`kubectl get pods`' `OOMKilled`): never stale, whatever progress a
    # paste shows after it
    summary: bool = False
    first_line: int | None = None  # an earlier occurrence that progress made stale
    local_rank: bool = False  # `rank` is a local rank (torchrun's `[default3]:` prefix)
    task_rank: bool = False  # `rank` is an srun task id (see rankmap.py)
    task: int | None = None  # the line's srun task id (`3: ` of `srun -l`), if any
    pid: int | None = None  # the NCCL `host:pid:tid` prefix's pid of a line without a rank
    # for a local rank: the node base (node rank x processes per node) last printed before
    # the line, in its stream, by a launcher line without a host (rankmap.section_base)
    base: int | None = None


class ElasticRoot(BaseModel):
    """A launcher's record of a failed worker (`records.py`): torchelastic's `Root Cause (first
    observed failure)` entry or an entry of its `Failures:` list, srun's `srun: error: host:
    task N: Exited with exit code K`, the DeepSpeed launcher's `... exits with return code`
    (a local rank), `torch.multiprocessing.spawn`'s `-- Process N terminated ...`, Ray
    Train's `RayTaskError(...)` of a worker (a pid), mpirun's first failed process, or
    composer's `Global rank N (PID ..) exited with code K`."""

    model_config = _FROZEN

    # one of RECORD_SOURCES; a plain string, so that a reader of an older version takes a
    # digest with a source it does not know (it then ignores that record) rather than
    # rejecting the whole digest
    source: str = "root_cause"
    line: int
    rank: int | None = None
    local_rank: int | None = None
    host: str | None = None
    exitcode: int | None = None
    base: int | None = None  # as Candidate.base, for a record naming a local rank only
    pid: int | None = None  # torchelastic's `exitcode : -6 (pid: 24411)`
    timestamp: float | None = None
    error_file: str | None = None
    text: str = ""


class NodeDigest(BaseModel):
    """Digest of one node's (or one file's) output for one cycle."""

    model_config = ConfigDict(
        frozen=True, extra="ignore", validate_by_name=True, validate_by_alias=True,
        serialize_by_alias=True,
    )

    schema_: Annotated[Literal["resilience.digest/1"], Field(alias="schema")] = DIGEST_SCHEMA
    cycle_id: int | None = None
    node: str | None = None
    rank: int | None = None
    first_line: int = 1
    lines: int = 0
    candidates: tuple[Candidate, ...] = ()
    elastic_roots: tuple[ElasticRoot, ...] = ()
    last_step: int | None = None
    last_progress_line: int | None = None
    checkpoint_line: int | None = None
    checkpoint_time: float | None = None  # the timestamp its line carries, if any
    progress_seq: int = 0  # progress advances seen in this cycle
    dropped: int = 0  # candidates not kept because a role was full
    truncated: bool = False  # the input was a tail window of a bigger file
    # rank -> host, from lines naming both (`srun: error: host: task 5: ...`, NCCL prefixes)
    rank_hosts: dict[int, str] = Field(default_factory=dict)
    # pid -> host, from NCCL `host:pid:tid` prefixes (names the node of `Xid ... pid=N` lines)
    pid_hosts: dict[int, str] = Field(default_factory=dict)
    # pid -> global rank, from lines naming both (an NCCL prefix behind a rank prefix, Ray
    # Train's `(ip=..., pid=5126) world_rank=14`); -1 marks a pid seen with two ranks
    pid_ranks: dict[int, int] = Field(default_factory=dict)
    # host -> its global ranks in local-rank order, from a launcher's complete mapping
    # (DeepSpeed's `global_rank_mapping=`): turns a local rank on that host into a global one
    host_ranks: dict[str, list[int]] = Field(default_factory=dict)
    # the global ranks of each node's workers in local-rank order, from the torchelastic
    # agents' `Rendezvous complete for workers. Result: ... global_ranks=[8, 9, ...]`
    agent_ranks: list[list[int]] = Field(default_factory=list)
    # first global rank of a node (node_rank x processes per node), keyed by `task N`, host,
    # or "" (the stream's own node); -1: two lines disagree
    node_bases: dict[str, int] = Field(default_factory=dict)

    def to_json(self) -> str:
        return self.model_dump_json(by_alias=True)

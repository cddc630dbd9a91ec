"""Pattern type, roles and the line matcher. The patterns themselves are data in `patterns.py`.

Every pattern names at least one prefilter keyword (`KEYWORDS`): a line that contains none of
them is never looked at again, so the per-byte cost is a handful of `bytes.find` passes.
Regexes run only on candidate lines, only on their first `MAX_MATCH_CHARS` characters, and use
bounded quantifiers only, so matching time is linear in the (capped) line length.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from enum import Enum
from functools import lru_cache

from .verdict import Category

__all__ = ["KEYWORDS", "MAX_MATCH_CHARS", "Pattern", "Role", "conditional_free", "match_content"]

# Only this much of a line is ever given to a regex (evidence keeps the verbatim line).
MAX_MATCH_CHARS = 4096

# Literal prefilter keywords (bytes.find, case-sensitive). Keep this list short: each one is a
# full pass over the input. Every pattern's example must contain one (tested).
KEYWORDS: tuple[str, ...] = (
    "rror", "xception", "Xid", "NCCL WARN", "of memory", "atchdog", "imed out", "oom-kill",
    "Root Cause", "fallen off", "egmentation", "NaN", "oss is", "by peer", "ycle",
    "ota exceeded", "No space left",  # `touch: ...: Disk quota exceeded`, no "error" on the line
    # Kubernetes / cloud: `Reason: OOMKilled`, a spot VM reclaimed
    "OOMKilled", "node shutdown", "instances.preempted",
    "usage threshold",  # Ray's memory monitor: the line naming the worker it killed
    "` failed",  # CUDA kernel assertions: Indexing.cu:1289: ... Assertion `srcIndex < ...` failed.
    # not patterns: culprits (records.py, cycle_state.py)
    "world_rank=",  # Ray Train's pid -> rank table
    "Setting up process group for",  # ... and each worker's `[rank=6, world_size=8]`
    # DeepSpeed's `global_rank_mapping=`, torchelastic agent's `global_ranks=[..]`; DeepSpeed's
    # worker exits
    "global_rank", "exits with return code",
    "failed (exitcode",  # torchelastic agent: `failed (exitcode: 1) local_rank: 5 (pid: 2441)`
    "kubectl ",  # a pasted `$ kubectl logs <pod>`: the lines after it are that pod's
    "@",  # a pasted prompt `user@host:~$ python train.py`: the lines after it are host's
    # launchers' node rank x processes per node (PyTorchJob's env: PET_NODE_RANK)
    "node_rank", "node-rank", "machine_rank", "NODE_RANK",
    "spawned with command",  # DeepSpeed: a worker's pid and its --local_rank
    "Process name", "noticed that process",  # mpirun: the first rank to fail
    "exited with code",  # composer's launcher: `Global rank 5 (PID 40127) exited with code 1`
    # a hostfile's `gpu-c02 slots=4`, Open MPI's map `Data for node: .. Num slots: 4` (not
    # "slots": no rare byte, a pass of its own over step lines)
    "slots=", "Num slots", "OMPI jobid",  # and the map's `Process OMPI jobid: .. rank: 8`
    "NCCL INFO comm",  # `comm 0x.. rank 13 nranks 16`; shares a search with "oom-kill"
)


class Role(str, Enum):
    """What a matching line says about the failure."""

    INITIATING = "initiating"  # a fault that can start a failure (OOM, Xid, user exception)
    CASCADE = "cascade"  # a consequence of another rank's failure (timeouts, resets, aborts)
    NOISE = "noise"  # never a root (exit codes, frames, warnings, INFO); vetoes other patterns


@dataclass(frozen=True)
class Pattern:
    """One signature. `tier` orders roots: 0 environment, 1 definite software, 2 weak."""

    id: str
    category: Category
    role: Role
    regex: str
    example: str
    kind: str = ""  # refines the policy key: f"{category}.{kind}"
    tier: int = 1
    timeout: bool = False
    confidence: float = 0.9
    all_ranks: bool = False  # definite only when every failing rank shows it
    summary: bool = False  # a post-mortem status, printed after the fact (`Candidate.summary`)
    compiled: re.Pattern[str] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "compiled", re.compile(self.regex))


# Conditional clauses are advice, not evidence: they are cut before matching.
_CONDITIONAL = re.compile(
    r"(?i)\b(?:(?:this |it )?(?:may|might|could|can) (?:be|have been|indicate|also)"
    r"|please (?:try|check|consider|make sure|set|report)|consider (?:passing|setting|using)"
    r"|if (?:this|you|reserved|the)|possibl[ey]|to avoid |for debugging|you can|try (?:to|setting)"
    r")[^.;]{0,400}"
)


def conditional_free(content: str) -> str:
    """`content` with advisory clauses ("may be caused by ...", "please try ...") removed."""
    return _CONDITIONAL.sub("", content)


def _match(content: str, patterns: tuple[Pattern, ...]) -> Pattern | None:
    text = conditional_free(content[:MAX_MATCH_CHARS])
    for pattern in patterns:
        if pattern.compiled.search(text):
            return None if pattern.role is Role.NOISE else pattern
    return None


@lru_cache(maxsize=4096)
def match_content(content: str) -> Pattern | None:
    """The first registry pattern matching a line's content (prefix removed), or None.

    Noise patterns come first in the registry and veto the line. Cached: the same message
    printed by many ranks is matched once.
    """
    from .patterns import PATTERNS

    return _match(content, PATTERNS)

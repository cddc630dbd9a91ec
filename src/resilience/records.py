"""Versioned JSON records written to the rendezvous store.

Every record is a frozen pydantic model with a ``v`` field; ``encode``/``decode`` are the only
way records cross the wire (no pickle, no tuples, no magic byte strings).
"""

from __future__ import annotations

from enum import Enum
from typing import TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from resilience.errors import RendezvousError

__all__ = [
    "Assignment",
    "CloseRecord",
    "FailureRecord",
    "OpenRecord",
    "Participant",
    "ShutdownReason",
    "ShutdownRecord",
    "WorkerExit",
    "decode",
    "encode",
]


class _Record(BaseModel):
    model_config = ConfigDict(frozen=True, extra="ignore")
    v: int = 1


class ShutdownReason(str, Enum):
    SUCCEEDED = "succeeded"
    STOPPED = "stopped"
    NO_PROGRESS = "no_progress"
    RESTARTS_EXHAUSTED = "restarts_exhausted"
    FAILED = "failed"


class OpenRecord(_Record):
    """Why round n was opened."""

    opened_by: str
    reason: str


class Participant(_Record):
    """What a joining agent tells the leader about itself."""

    node_id: str
    host: str
    pid: int
    local_world_size: int
    node_rank_hint: int | None = None
    prev_group_rank: int | None = None


class Assignment(_Record):
    """The leader's answer to one slot of a round."""

    cycle_id: int
    group_rank: int | None  # None = spare
    group_world_size: int
    rank_offset: int  # global rank of this node's local rank 0
    world_size: int
    master_addr: str
    master_port: int
    restart_count: int
    excluded: bool = False  # attribution blamed this node's hardware: leave the job

    @property
    def is_spare(self) -> bool:
        return self.group_rank is None


class CloseRecord(_Record):
    """Written last when a round closes: either ranks were assigned or the job is over."""

    outcome: str  # "assigned" | "shutdown"
    participants: int


class ShutdownRecord(_Record):
    reason: ShutdownReason
    detail: str = ""
    by: str = ""


class WorkerExit(_Record):
    """How one worker process ended."""

    local_rank: int
    rank: int
    exitcode: int | None  # None when killed by a signal
    signal: int | None = None
    at: float = Field(description="wall-clock time the exit was observed")
    error_message: str = ""

    @property
    def failed(self) -> bool:
        return self.exitcode != 0


class FailureRecord(_Record):
    """What one node saw fail in a cycle."""

    node_id: str
    host: str
    cycle_id: int
    exits: list[WorkerExit]
    log_paths: list[str]
    detected_at: float
    digests: list[str] = Field(default_factory=list)  # resilience.digest/1 JSON, one per rank


R = TypeVar("R", bound=_Record)


def encode(record: _Record) -> str:
    return record.model_dump_json()


def decode(model: type[R], raw: bytes | str) -> R:
    """Parse a record; a malformed or incompatible one is a protocol error, not a crash."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        text = raw.decode(errors="replace") if isinstance(raw, bytes) else raw
        raise RendezvousError(
            f"malformed {model.__name__} record in the store: {text[:200]!r}"
        ) from exc

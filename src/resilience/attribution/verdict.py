"""The verdict: what attribution answers for one failed cycle (`resilience.verdict/1`).

The JSON shape is a contract shared with the HTTP service, the leader and users' dashboards
(see ATTRIBUTION.md); field names and category names never change within a schema version.
"""

from __future__ import annotations

from enum import Enum
from typing import Annotated, Final, Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = ["VERDICT_SCHEMA", "Action", "Category", "Evidence", "Verdict"]

VERDICT_SCHEMA: Final = "resilience.verdict/1"


class Action(str, Enum):
    """What the leader should do for the next cycle."""

    RESTART = "RESTART"
    STOP = "STOP"


class Category(str, Enum):
    """The fixed category names of ATTRIBUTION.md."""

    GPU_HARDWARE = "gpu_hardware"
    NETWORK = "network"
    HOST = "host"
    CUDA_OOM = "cuda_oom"
    USER_CODE = "user_code"
    NUMERICAL = "numerical"
    RENDEZVOUS = "rendezvous"
    STORAGE = "storage"
    HANG = "hang"
    SCHEDULER = "scheduler"
    UNKNOWN = "unknown"


class Evidence(BaseModel):
    """One verbatim log line backing a verdict. `line` is 1-based within its input."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    rank: int | None = None
    line: int | None = None
    text: str


class Verdict(BaseModel):
    """The answer of one attribution source for one cycle."""

    model_config = ConfigDict(
        frozen=True,
        extra="forbid",
        validate_by_name=True,
        validate_by_alias=True,
        serialize_by_alias=True,
    )

    schema_: Annotated[Literal["resilience.verdict/1"], Field(alias="schema")] = VERDICT_SCHEMA
    cycle_id: int = Field(ge=0)
    action: Action
    category: Category
    confidence: float = Field(ge=0.0, le=1.0)
    culprit_ranks: tuple[int, ...] = ()
    culprit_nodes: tuple[str, ...] = ()
    evidence: tuple[Evidence, ...] = ()
    reason: str
    source: str = "rules"
    fingerprint: str = ""

    def to_json(self) -> str:
        """One-line JSON with the contract's field names (`schema`, not `schema_`)."""
        return self.model_dump_json(by_alias=True)

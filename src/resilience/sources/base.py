"""The source protocol the agent talks to, and the request it sends."""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from pydantic import BaseModel, ConfigDict, Field

from resilience.attribution import Verdict

__all__ = ["AttributionRequest", "AttributionSource"]


class AttributionRequest(BaseModel):
    """What to attribute: cycle ``cycle_id`` of job ``job_id`` from these log files."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    job_id: str = Field(min_length=1)
    cycle_id: int = Field(ge=0)
    log_paths: list[str] = Field(min_length=1)
    user: str = ""
    node: str = ""


@runtime_checkable
class AttributionSource(Protocol):
    """A backend that produces verdicts. Both calls return at once and never raise."""

    name: str

    def trigger(self, request: AttributionRequest) -> None:
        """Start attributing ``request.cycle_id`` (non-blocking; errors are logged, not raised)."""
        ...

    def verdict(self, cycle_id: int) -> Verdict | None:
        """The verdict for the cycle if it is ready, else None (also after a failure)."""
        ...

    def close(self) -> None:
        """Stop background work and release connections (bounded time)."""
        ...

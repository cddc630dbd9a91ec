"""Request and response bodies of the service (the verdict itself is ``resilience.verdict/1``)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AttributionPost",
    "ErrorBody",
    "InflightView",
    "JobCycleView",
    "JobView",
    "LogSubmit",
    "Pending",
    "Submitted",
]

JobId = Field(min_length=1, max_length=256, pattern=r"^[A-Za-z0-9._:@+=-]+$")


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class LogSubmit(_Frozen):
    """``POST /logs``: analyse one log file (relative to ALLOWED_ROOT, or absolute inside it)."""

    log_path: str = Field(max_length=4096)
    user: str = Field(default="", max_length=256)
    job_id: str = Field(default="", max_length=256)
    cycle_id: int | None = Field(default=None, ge=0)


class AttributionPost(_Frozen):
    """``POST /v1/attributions``: attribute cycle ``cycle_id`` of job ``job_id``."""

    job_id: str = JobId
    cycle_id: int = Field(ge=0)
    log_paths: list[str] = Field(min_length=1, max_length=256)
    user: str = Field(default="", max_length=256)
    node: str = Field(default="", max_length=256)


class Submitted(_Frozen):
    """Answer to a submit: accepted; ``status`` is done when the verdict was already known."""

    status: Literal["done", "pending"]
    cycle_id: int | None
    log_paths: list[str]
    job_id: str = ""
    triggers: int = 1


class Pending(_Frozen):
    """Answer to a verdict request whose analysis is still running (HTTP 202)."""

    status: Literal["pending"] = "pending"
    cycle_id: int | None
    log_paths: list[str]
    job_id: str = ""


class ErrorBody(_Frozen):
    """Every 4xx/5xx the service itself raises: a machine code and a human reason."""

    error: str
    reason: str


class JobCycleView(_Frozen):
    cycle_id: int | None
    log_paths: list[str]
    user: str
    node: str
    submitted: float
    triggers: int


class JobView(_Frozen):
    job_id: str
    cycles: list[JobCycleView]


class InflightView(_Frozen):
    log_paths: list[str]
    cycle_id: int | None
    started: float

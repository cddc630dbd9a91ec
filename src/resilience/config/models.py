"""Frozen configuration models, resolved once (CLI > env > YAML > defaults) and passed down."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

__all__ = [
    "AttributionConfig",
    "FaultToleranceConfig",
    "LaunchConfig",
    "RdzvConfig",
    "WorkerConfig",
]


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class AttributionConfig(_Frozen):
    """The ``fault_tolerance.attribution:`` block; flags ``--ft-attribution-<field>``."""

    rules: bool = Field(
        True, description="run the embedded rules engine (offline, no API key) on every failure"
    )
    http_url: tuple[str, ...] = Field(
        (),
        description="attribution service base URL (`resilience serve`); repeatable. "
        "--ft-attrsvc-url URL is the same",
    )
    timeout: float = Field(
        30.0, gt=0, description="seconds one source may take before its answer is ignored"
    )
    decision_timeout: float = Field(
        5.0,
        gt=0,
        description="seconds after a failure the leader waits for verdicts before restarting "
        "anyway (overlaps teardown and rendezvous; must be <= join_timeout)",
    )
    dry_run: bool = Field(False, description="compute, log and post verdicts, but always RESTART")
    aggregation: Literal["any", "all"] = Field(
        "any", description="any: one STOP stops; all: every answering source must say STOP"
    )
    policy: Path | None = Field(
        None, description="YAML/JSON file overriding the category -> action table"
    )
    repeat_limit: int | None = Field(
        None,
        ge=1,
        description="STOP after the same root repeats this many cycles with no "
        "progress (default: the policy's, 2)",
    )


class FaultToleranceConfig(_Frozen):
    """The ``fault_tolerance:`` YAML block.

    Each field is also a flag ``--ft-<field>`` and an env var ``PET_FT_<FIELD>``.
    """

    no_restart_exit_code: int = Field(
        93,
        ge=3,
        le=125,
        description="exit code of ftrun when the job is stopped on purpose (attribution STOP, "
        "no progress); 3..125 so it never collides with 0/1/2 or 128+signal",
    )
    excluded_exit_code: int = Field(
        94,
        ge=3,
        le=125,
        description="exit code of an agent whose node attribution excluded (faulty hardware); "
        "the job goes on with a spare",
    )
    workers_stop_timeout: float | None = Field(
        None,
        gt=0,
        description="seconds between SIGTERM and SIGKILL when stopping workers "
        "(default: --shutdown-timeout, else TORCH_ELASTIC_SHUTDOWN_TIMEOUT, else 30)",
    )
    attribution: AttributionConfig = AttributionConfig()


class RdzvConfig(_Frozen):
    backend: str
    endpoint_host: str
    endpoint_port: int = Field(ge=0, le=65535)
    run_id: str
    min_nodes: int = Field(ge=1)
    max_nodes: int = Field(ge=1)
    is_host: bool | None  # None: host it if the endpoint port is free here, else join
    node_rank: int | None  # static backend only: the rank hint of this node
    local_addr: str
    join_timeout: float = Field(600.0, gt=0)
    last_call_timeout: float = Field(30.0, ge=0)
    close_timeout: float = Field(30.0, gt=0)
    read_timeout: float = Field(60.0, gt=0)
    keep_alive_interval: float = Field(5.0, gt=0)
    keep_alive_max_attempt: int = Field(3, ge=1)
    master_addr_for_workers: str


class WorkerConfig(_Frozen):
    argv: tuple[str, ...]  # full command of a worker, without per-rank parts
    nproc_per_node: int = Field(ge=1)
    role: str
    redirects: tuple[int, ...]  # per local rank: bit 1 stdout, bit 2 stderr -> file only
    tee: tuple[int, ...]  # per local rank: file and console (our console always prefixes)
    local_ranks_filter: frozenset[int] | None
    virtual_local_rank: bool
    set_omp_threads: bool


class LaunchConfig(_Frozen):
    rdzv: RdzvConfig
    workers: WorkerConfig
    ft: FaultToleranceConfig
    max_restarts: int = Field(ge=0)
    monitor_interval: float = Field(gt=0)
    stop_timeout: float = Field(gt=0)
    signals_to_handle: tuple[str, ...]
    log_dir: Path | None

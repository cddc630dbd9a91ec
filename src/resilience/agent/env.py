"""The environment of one worker: what torchrun gives, plus RESILIENCE_CYCLE_ID. Pure."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from resilience.config.models import LaunchConfig
from resilience.records import Assignment

__all__ = ["worker_env"]


def worker_env(
    base: Mapping[str, str],
    cfg: LaunchConfig,
    assignment: Assignment,
    local_rank: int,
    error_file: Path,
) -> dict[str, str]:
    w = cfg.workers
    assert assignment.group_rank is not None, "spares run no workers"
    rank = assignment.rank_offset + local_rank
    env = dict(base)
    env.update(
        {
            "RANK": str(rank),
            "GROUP_RANK": str(assignment.group_rank),
            "ROLE_RANK": str(rank),
            "ROLE_NAME": w.role,
            "LOCAL_WORLD_SIZE": str(w.nproc_per_node),
            "WORLD_SIZE": str(assignment.world_size),
            "GROUP_WORLD_SIZE": str(assignment.group_world_size),
            "ROLE_WORLD_SIZE": str(assignment.world_size),
            "MASTER_ADDR": assignment.master_addr,
            "MASTER_PORT": str(assignment.master_port),
            "TORCHELASTIC_RESTART_COUNT": str(assignment.restart_count),
            "TORCHELASTIC_MAX_RESTARTS": str(cfg.max_restarts),
            "TORCHELASTIC_RUN_ID": cfg.rdzv.run_id,
            "TORCHELASTIC_USE_AGENT_STORE": "True",
            "TORCHELASTIC_ERROR_FILE": str(error_file),
            "TORCHELASTIC_SIGNALS_TO_HANDLE": ",".join(cfg.signals_to_handle),
            "TORCH_NCCL_ASYNC_ERROR_HANDLING": base.get("TORCH_NCCL_ASYNC_ERROR_HANDLING", "1"),
            "RESILIENCE_CYCLE_ID": str(assignment.cycle_id),
        }
    )
    if w.set_omp_threads:
        env["OMP_NUM_THREADS"] = "1"
    if w.virtual_local_rank:
        env["LOCAL_RANK"] = "0"
        visible = base.get("CUDA_VISIBLE_DEVICES")
        devices = visible.split(",") if visible else [str(i) for i in range(w.nproc_per_node)]
        env["CUDA_VISIBLE_DEVICES"] = devices[local_rank % len(devices)]
    else:
        env["LOCAL_RANK"] = str(local_rank)
    return env

"""Resolve the worker-side torchrun flags (entrypoint, nproc, redirects/tee, filters)."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Mapping

from resilience.config.models import WorkerConfig
from resilience.errors import ConfigError

__all__ = ["parse_std", "worker_config"]

# Run a script in a fresh interpreter the way torchrun --run-path runs it in-process.
RUN_PATH_BOOTSTRAP = (
    "import runpy, sys; sys.argv = sys.argv[1:]; runpy.run_path(sys.argv[0], run_name='__main__')"
)


def parse_std(flag: str, text: str, nproc: int) -> tuple[int, ...]:
    """torchrun's Std syntax: '3' for all local ranks, or '0:1,1:2' per local rank."""
    text = text.strip()
    try:
        if ":" not in text:
            value = int(text)
            if not 0 <= value <= 3:
                raise ValueError
            return (value,) * nproc
        per_rank = [0] * nproc
        for item in text.split(","):
            rank_text, _, value_text = item.partition(":")
            rank, value = int(rank_text), int(value_text)
            if not 0 <= value <= 3:
                raise ValueError
            if 0 <= rank < nproc:
                per_rank[rank] = value
        return tuple(per_rank)
    except ValueError:
        raise ConfigError(
            f"{flag} {text!r} is invalid; use 0-3 (0 none, 1 stdout, 2 stderr, 3 both) or "
            f"LOCAL_RANK:VALUE pairs such as 0:1,1:2"
        ) from None


def _nproc(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = _nproc_keyword(text)
    if value < 1:
        raise ConfigError(f"--nproc-per-node {text!r} must be >= 1")
    return value


def _nproc_keyword(text: str) -> int:
    import torch

    cpus = os.cpu_count() or 1
    if text == "cpu":
        return cpus
    if text == "gpu":
        if not torch.cuda.is_available():
            raise ConfigError(
                "--nproc-per-node gpu: CUDA is not available on this node; pass a number"
            )
        return int(torch.cuda.device_count())
    if text == "auto":
        return int(torch.cuda.device_count()) if torch.cuda.is_available() else cpus
    raise ConfigError(f"--nproc-per-node {text!r} is invalid; use a number, 'gpu', 'cpu' or 'auto'")


def _argv(args: argparse.Namespace, env: Mapping[str, str]) -> tuple[str, ...]:
    python = env.get("PYTHON_EXEC") or sys.executable
    script: str = args.training_script
    if args.run_path:
        return (python, "-u", "-c", RUN_PATH_BOOTSTRAP, script, *args.training_script_args)
    if args.no_python:
        if args.module:
            raise ConfigError("don't use both --no-python and --module; pick one")
        return (script, *args.training_script_args)
    if args.module:
        return (python, "-u", "-m", script, *args.training_script_args)
    return (python, "-u", script, *args.training_script_args)

    return sys.executable


def _ranks_filter(text: str) -> frozenset[int] | None:
    if not text:
        return None
    try:
        ranks = frozenset(int(t) for t in text.split(","))
    except ValueError:
        raise ConfigError(
            f"--local-ranks-filter {text!r} must be comma-separated integers, e.g. 0,1,2"
        ) from None
    return ranks


def worker_config(args: argparse.Namespace, env: Mapping[str, str]) -> WorkerConfig:
    nproc = _nproc(str(args.nproc_per_node))
    return WorkerConfig(
        argv=_argv(args, env),
        nproc_per_node=nproc,
        role=args.role,
        redirects=parse_std("--redirects", args.redirects, nproc),
        tee=parse_std("--tee", args.tee, nproc),
        local_ranks_filter=_ranks_filter(args.local_ranks_filter),
        virtual_local_rank=bool(args.virtual_local_rank),
        set_omp_threads="OMP_NUM_THREADS" not in env and nproc > 1,
    )

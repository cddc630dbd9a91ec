from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import pytest
import yaml

from resilience.attribution import analyze_lines

CORPUS = Path(__file__).resolve().parents[2] / "data" / "attribution"


def corpus_labels() -> dict[str, dict[str, object]]:
    data: dict[str, dict[str, object]] = yaml.safe_load(
        (CORPUS / "labels.yaml").read_text(encoding="utf-8"))
    return data


@pytest.fixture
def corpus() -> Path:
    return CORPUS


def ray_table(trainer: str, ips: Sequence[str], pids: Sequence[int]) -> list[str]:
    """Ray Train's worker table as its trainer prints it: one line per world rank, the ranks
    split evenly over the nodes `ips`, `pids[r]` the pid of rank r."""
    per = len(pids) // len(ips)
    return [f"({trainer}) - (ip={ips[r // per]}, pid={pid}) world_rank={r}, "
            f"local_rank={r % per}, node_rank={r // per}" for r, pid in enumerate(pids)]


def category_culprits(lines: list[str]) -> tuple[str, list[int], list[str]]:
    """(category, culprit ranks, culprit nodes) of the verdict on `lines`."""
    v = analyze_lines(lines)
    return v.category.value, list(v.culprit_ranks), list(v.culprit_nodes)

"""Introspection endpoints: ``/healthz``, ``/stats``, ``/jobs``, ``/inflight``."""

from __future__ import annotations

from fastapi import APIRouter

from resilience import __version__
from resilience.service.deps import State
from resilience.service.models import InflightView, JobView
from resilience.service.stats import StatsSnapshot

__all__ = ["router"]

router = APIRouter(tags=["info"])


@router.get("/healthz")
async def healthz(state: State) -> dict[str, str]:
    """Liveness: the service is up and its state is built."""
    return {"status": "ok", "version": __version__,
            "allowed_root": str(state.settings.allowed_root)}


@router.get("/stats", response_model=StatsSnapshot)
async def stats(state: State) -> StatsSnapshot:
    """Counters (cache hits, analyses, ...) and analysis latency percentiles."""
    return state.stats.snapshot(ledger_entries=len(state.ledger),
                                inflight=len(state.analyzer.inflight()))


@router.get("/jobs", response_model=list[JobView])
async def jobs(state: State) -> list[JobView]:
    """Jobs and cycles triggered so far (most recent last)."""
    return state.jobs.jobs()


@router.get("/inflight", response_model=list[InflightView])
async def inflight(state: State) -> list[InflightView]:
    """Analyses running now."""
    return [InflightView(log_paths=p, cycle_id=c, started=t)
            for p, c, t in state.analyzer.inflight()]

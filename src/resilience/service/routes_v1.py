"""Job-keyed, idempotent endpoints: ``POST /v1/attributions`` and
``GET /v1/attributions/{job_id}/{cycle_id}``.

N triggers of one (job, cycle) give one analysis: the first trigger fixes the files, which are
analysed together (the root is chosen across ranks), coalesced while running, ledgered after.
"""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query
from fastapi.responses import JSONResponse

from resilience.attribution import Verdict
from resilience.service.analysis import subject
from resilience.service.deps import State, capped_wait, rate_limit, resolve
from resilience.service.models import AttributionPost, ErrorBody, Pending, Submitted

__all__ = ["router"]

router = APIRouter(prefix="/v1", tags=["attributions"])
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 403, 404, 422, 429, 504)
}


@router.post("/attributions", status_code=202, response_model=Submitted, responses=_ERRORS,
             dependencies=[Depends(rate_limit("submit"))])
async def post_attribution(body: AttributionPost, state: State) -> Submitted:
    """Trigger attribution of one cycle of a job (idempotent; returns at once)."""
    known = state.jobs.get(body.job_id, body.cycle_id)
    if known is None:
        files = tuple(await asyncio.gather(*(resolve(state, p) for p in body.log_paths)))
    else:
        files = known.files
    jc = state.jobs.trigger(body.job_id, body.cycle_id, files, user=body.user, node=body.node)
    got = state.analyzer.request(subject(jc.files), jc.cycle_id)
    return Submitted(
        status="done" if isinstance(got, Verdict) else "pending",
        cycle_id=jc.cycle_id,
        log_paths=[str(f.path) for f in jc.files],
        job_id=jc.job_id,
        triggers=jc.triggers,
    )


@router.get("/attributions/{job_id}/{cycle_id}", response_model=Verdict,
            responses={202: {"model": Pending}, **_ERRORS},
            dependencies=[Depends(rate_limit("analyze"))])
async def get_attribution(
    state: State,
    job_id: Annotated[str, Path(max_length=256)],
    cycle_id: Annotated[int, Path(ge=0)],
    wait: Annotated[float, Query(ge=0, description="seconds to wait for a running analysis")] = 0,
) -> JSONResponse:
    """The verdict for the cycle, 202 while it is computed, 404 if it was never triggered."""
    jc = state.jobs.get(job_id, cycle_id)
    if jc is None:
        body = ErrorBody(error="not_found",
                         reason=f"no attribution was triggered for job {job_id} cycle {cycle_id}")
        return JSONResponse(body.model_dump(), status_code=404)
    verdict = await state.analyzer.verdict(subject(jc.files), cycle_id, capped_wait(state, wait))
    if verdict is None:
        pending = Pending(cycle_id=cycle_id, log_paths=[str(f.path) for f in jc.files],
                          job_id=job_id)
        return JSONResponse(pending.model_dump(mode="json"), status_code=202)
    return JSONResponse(verdict.model_dump(mode="json"))

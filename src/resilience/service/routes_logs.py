"""File-keyed endpoints: ``POST /logs``, ``GET /logs``, ``GET /print``."""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, Query
from fastapi.responses import JSONResponse, PlainTextResponse

from resilience.attribution import Verdict
from resilience.service.analysis import subject
from resilience.service.deps import State, capped_wait, rate_limit, resolve
from resilience.service.models import ErrorBody, LogSubmit, Pending, Submitted
from resilience.service.paths import open_regular

__all__ = ["PRINT_BYTES", "router"]

PRINT_BYTES = 4096
router = APIRouter(tags=["logs"])
_ERRORS: dict[int | str, dict[str, object]] = {
    code: {"model": ErrorBody} for code in (400, 403, 404, 422, 429, 504)
}


@router.post("/logs", status_code=202, response_model=Submitted, responses=_ERRORS,
             dependencies=[Depends(rate_limit("submit"))])
async def submit_log(body: LogSubmit, state: State) -> Submitted:
    """Start analysing one log file (returns at once; fetch the verdict with ``GET /logs``)."""
    file = await resolve(state, body.log_path)
    got = state.analyzer.request(subject([file]), body.cycle_id)
    if body.job_id:
        state.jobs.trigger(body.job_id, body.cycle_id, (file,), user=body.user)
    return Submitted(
        status="done" if isinstance(got, Verdict) else "pending",
        cycle_id=body.cycle_id,
        log_paths=[str(file.path)],
        job_id=body.job_id,
    )


@router.get("/logs", response_model=Verdict,
            responses={202: {"model": Pending}, **_ERRORS},
            dependencies=[Depends(rate_limit("analyze"))])
async def get_log_verdict(
    state: State,
    log_path: str,
    cycle_id: Annotated[int | None, Query(ge=0)] = None,
    wait: Annotated[float, Query(ge=0, description="seconds to wait for a running analysis")] = 0,
) -> JSONResponse:
    """The verdict (``resilience.verdict/1``) for the file, or 202 with a pending status.

    Starts the analysis if it is neither cached nor running.
    """
    file = await resolve(state, log_path)
    verdict = await state.analyzer.verdict(subject([file]), cycle_id, capped_wait(state, wait))
    if verdict is None:
        pending = Pending(cycle_id=cycle_id, log_paths=[str(file.path)])
        return JSONResponse(pending.model_dump(mode="json"), status_code=202)
    return JSONResponse(verdict.model_dump(mode="json"))


def _head(path: Path) -> bytes:
    fd = open_regular(path)
    try:
        return os.read(fd, PRINT_BYTES)
    finally:
        os.close(fd)


@router.get("/print", response_class=PlainTextResponse, responses=_ERRORS,
            dependencies=[Depends(rate_limit("print"))])
async def print_log(state: State, log_path: str) -> PlainTextResponse:
    """The first 4 KiB of the log file, as text (undecodable bytes replaced)."""
    file = await resolve(state, log_path)
    head = await asyncio.to_thread(_head, file.path)
    truncated = "true" if file.size > len(head) else "false"
    return PlainTextResponse(head.decode("utf-8", errors="replace"),
                             headers={"X-Resilience-Truncated": truncated})

"""The FastAPI application of `resilience serve`.

``create_app(settings, analyze=..., combine=...)`` wires the routers; the lifespan builds the
shared state (ledger, thread pool, rate limiter, ...) and stores it on ``app.state.service``,
from where the routes get it injected (``Depends(get_state)``). Errors of the project's tree
become JSON ``{"error", "reason"}`` answers in one place (``_handlers``).
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from resilience import __version__
from resilience.errors import AttributionError, LogReadError, ResilienceError
from resilience.service import routes_info, routes_logs, routes_v1
from resilience.service.analysis import AnalyzeFn, AnalyzeManyFn
from resilience.service.engine import engine_analyze, engine_analyze_many
from resilience.service.errors import AnalysisTimeoutError, PathRefusedError, RateLimitedError
from resilience.service.models import ErrorBody
from resilience.service.ratelimit import retry_after_header
from resilience.service.settings import ServiceSettings
from resilience.service.state import build_state

__all__ = ["create_app"]

log = logging.getLogger("resilience.service")


def _error(status: int, code: str, reason: str, headers: dict[str, str] | None = None
           ) -> JSONResponse:
    body = ErrorBody(error=code, reason=reason).model_dump()
    return JSONResponse(body, status_code=status, headers=headers)


async def _on_resilience_error(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, PathRefusedError):
        return _error(exc.status, "path_refused", exc.reason)
    if isinstance(exc, RateLimitedError):
        headers = {"Retry-After": retry_after_header(exc.retry_after)}
        return _error(429, "rate_limited", str(exc), headers)
    if isinstance(exc, AnalysisTimeoutError):
        return _error(504, "analysis_timeout", str(exc))
    if isinstance(exc, LogReadError):
        return _error(422, "log_unreadable", str(exc))
    if isinstance(exc, AttributionError):
        return _error(422, "attribution_failed", str(exc))
    log.error("unexpected %s on %s", type(exc).__name__, request.url.path, exc_info=exc)
    return _error(500, "internal", f"{type(exc).__name__}: {exc}")


def create_app(
    settings: ServiceSettings,
    analyze: AnalyzeFn = engine_analyze,
    analyze_many: AnalyzeManyFn = engine_analyze_many,
) -> FastAPI:
    """The app; the analysis functions are injectable (tests, other engines)."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state = build_state(settings, analyze, analyze_many)
        app.state.service = state
        log.info("attribution service ready: root=%s ledger=%s (%d entries)",
                 settings.allowed_root, settings.cache_file or "memory", len(state.ledger))
        try:
            yield
        finally:
            state.close()

    app = FastAPI(title="resilience attribution service", version=__version__,
                  lifespan=lifespan)
    app.add_exception_handler(ResilienceError, _on_resilience_error)
    for module in (routes_info, routes_logs, routes_v1):
        app.include_router(module.router)
    return app

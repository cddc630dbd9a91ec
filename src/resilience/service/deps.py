"""FastAPI dependencies: the injected settings and state, the client id, rate limiting."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Annotated

from fastapi import Depends, Request

from resilience.service.errors import PathRefusedError, RateLimitedError
from resilience.service.paths import SafeFile, resolve_safe
from resilience.service.settings import ServiceSettings
from resilience.service.state import ServiceState

__all__ = [
    "RateLimit",
    "State",
    "capped_wait",
    "client_id",
    "get_settings",
    "get_state",
    "rate_limit",
    "resolve",
]


def get_state(request: Request) -> ServiceState:
    state: ServiceState = request.app.state.service
    return state


def get_settings(state: Annotated[ServiceState, Depends(get_state)]) -> ServiceSettings:
    return state.settings


State = Annotated[ServiceState, Depends(get_state)]


def client_id(request: Request) -> str:
    # The peer address only: X-Forwarded-For is client-controlled and would let anyone
    # pick a fresh bucket. Behind a proxy, rate-limit at the proxy.
    return request.client.host if request.client else "unknown"


def rate_limit(scope: str) -> Callable[[Request, ServiceState], Awaitable[None]]:
    """A dependency that takes one token of ``scope`` for the calling client or raises 429."""

    async def take(request: Request, state: State) -> None:
        wait = state.limiter.acquire(scope, client_id(request))
        if wait > 0:
            state.stats.incr("rate_limited")
            raise RateLimitedError(scope, wait)

    return take


RateLimit = Callable[[Request, ServiceState], Awaitable[None]]


async def resolve(state: ServiceState, raw: str) -> SafeFile:
    """Check ``raw`` against the path-safety rules off the event loop (stat can be slow on NFS)."""
    try:
        return await asyncio.to_thread(resolve_safe, raw, state.settings.allowed_root)
    except PathRefusedError:
        state.stats.incr("refused_paths")
        raise


def capped_wait(state: ServiceState, wait: float) -> float:
    return min(wait, state.settings.max_wait)

"""Errors of the attribution service, all inside the project's one tree.

    ResilienceError
     +-- AttributionError
          +-- PathRefusedError        a requested log path breaks a path-safety rule (4xx)
          +-- AnalysisTimeoutError    the analysis ran past COMPUTE_TIMEOUT (504)
     +-- RateLimitedError             a client exceeded its request rate (429 + Retry-After)
"""

from __future__ import annotations

from resilience.errors import AttributionError, ResilienceError

__all__ = ["AnalysisTimeoutError", "PathRefusedError", "RateLimitedError"]


class PathRefusedError(AttributionError):
    """The path is not a regular file under the allowed root. ``status`` is the HTTP code."""

    def __init__(self, reason: str, status: int = 400) -> None:
        super().__init__(reason)
        self.reason = reason
        self.status = status


class AnalysisTimeoutError(AttributionError):
    """The analysis did not finish within the compute timeout."""


class RateLimitedError(ResilienceError):
    """The client exceeded its request rate in ``scope``; retry after ``retry_after`` s."""

    def __init__(self, scope: str, retry_after: float) -> None:
        super().__init__(f"rate limit for {scope} exceeded; retry after {retry_after:.2f} s")
        self.scope = scope
        self.retry_after = retry_after

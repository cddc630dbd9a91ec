"""Attribution sources as the agent sees them: ``trigger`` now, read ``verdict`` later.

Invariants: a source never blocks its caller and never raises into it (a source that is down
means "no verdict", and the leader's safe default applies); it only ever hands out validated
``resilience.verdict/1`` verdicts for the cycle asked about.
"""

from __future__ import annotations

from resilience.sources.base import AttributionRequest, AttributionSource

__all__ = ["AttributionRequest", "AttributionSource"]

"""The attribution HTTP service (`resilience serve`).

Invariants: only regular files under ALLOWED_ROOT are ever read (``paths``); one analysis per
(file, cycle) at a time (``coalesce``) and none for a (file, cycle) whose verdict is in the
ledger and still valid (``ledger``); analyses run in a bounded thread pool under a timeout, the
event loop never blocks on them; settings are resolved once and injected. Nothing happens at
import: ``create_app`` builds an app, its lifespan builds the state.
"""

from __future__ import annotations

__all__: list[str] = []

"""Embedded attribution: read a failed cycle's logs, answer RESTART or STOP with a reason.

Invariants: decisions are pure functions of digests and policy; nothing here reads the clock,
the environment or the network; evidence lines are verbatim from the input.
"""

from __future__ import annotations

from .policy import DEFAULT_ACTIONS, Policy, PolicyError, load_policy
from .verdict import VERDICT_SCHEMA, Action, Category, Evidence, Verdict

__all__ = [
    "DEFAULT_ACTIONS",
    "VERDICT_SCHEMA",
    "Action",
    "Category",
    "Evidence",
    "Policy",
    "PolicyError",
    "Verdict",
    "load_policy",
]

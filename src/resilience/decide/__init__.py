"""The leader's attribution gate: turn every node's digest and the remote sources' answers
into one decision for the next cycle, inside a bounded window.

Invariants: the safe default is RESTART (timeout, error, garbage, unreachable source); the
pure core (:mod:`.combine`) never reads the clock or the store; the gate is consulted only by
the round closer, and attribution never imports the agent or the rendezvous.
"""

from resilience.decide.combine import aggregate, decide_from_verdict
from resilience.decide.gate import AttributionGate

__all__ = ["AttributionGate", "aggregate", "decide_from_verdict"]

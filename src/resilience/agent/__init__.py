"""The per-node agent: supervises workers, restarts the group, follows the rendezvous.

Invariants: decisions are pure (:mod:`resilience.agent.policy`); only :class:`Agent` sleeps and
writes the store; workers are reached only through :class:`WorkerGroup`.
"""

from resilience.agent.loop import Agent, RunPaths, exit_code_for
from resilience.agent.workers import SubprocessWorkers, WorkerGroup, WorkerLaunch

__all__ = ["Agent", "RunPaths", "SubprocessWorkers", "WorkerGroup", "WorkerLaunch", "exit_code_for"]

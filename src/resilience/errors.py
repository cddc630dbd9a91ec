"""The one error tree of resilience.

    ResilienceError
     +-- ConfigError                    bad flag, env var or YAML field (exit code 2)
     +-- StoreError                     a store operation failed (translated at the IO edge)
     |    +-- StoreUnreachableError     could not connect to the rendezvous store in time
     +-- RendezvousError
     |    +-- RendezvousTimeoutError    a round did not close / a key did not appear in time
     |    +-- RendezvousGracefulExitError  the job is permanently closed; carries the reason
     +-- WorkerSpawnError               a worker process could not be started
     +-- AttributionError               a log could not be read or a source answered garbage
          +-- LogReadError              missing / unreadable log file

Foreign exceptions (torch's DistStoreError, OSError, httpx errors) are translated into this
tree where the IO happens; nothing above the IO edge catches foreign exceptions.
"""

from __future__ import annotations

__all__ = [
    "AttributionError",
    "ConfigError",
    "LogReadError",
    "RendezvousError",
    "RendezvousGracefulExitError",
    "RendezvousTimeoutError",
    "ResilienceError",
    "StoreError",
    "StoreUnreachableError",
    "WorkerSpawnError",
]


class ResilienceError(Exception):
    """Base of every error raised by resilience."""


class ConfigError(ResilienceError):
    """A user-supplied setting is invalid. The message names the field and the fix."""


class StoreError(ResilienceError):
    """A rendezvous store operation failed."""


class StoreUnreachableError(StoreError):
    """The rendezvous store could not be reached within the connect timeout."""


class RendezvousError(ResilienceError):
    """The rendezvous protocol could not proceed."""


class RendezvousTimeoutError(RendezvousError):
    """A rendezvous step did not complete within its timeout."""


class RendezvousGracefulExitError(RendezvousError):
    """The job was permanently closed (succeeded, stopped, ...); the agent exits cleanly."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"job closed: {reason}" + (f" ({detail})" if detail else ""))
        self.reason = reason
        self.detail = detail


class WorkerSpawnError(ResilienceError):
    """A worker process could not be started (missing script, bad executable, ...)."""


class AttributionError(ResilienceError):
    """Attribution could not produce a verdict from its input."""


class LogReadError(AttributionError):
    """A log file is missing or unreadable."""

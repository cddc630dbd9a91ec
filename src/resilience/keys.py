"""Every rendezvous store key, built in one place.

All keys live under ``/resilience/<run_id>/``. The TCPStore ``wait`` primitive waits for a key
to *exist*, so each state transition of a round is its own key (``open``, ``closed``) rather
than one ``state`` key whose value changes; see docs/design/rendezvous.md.
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Keys"]


@dataclass(frozen=True)
class Keys:
    """Key builders for one run: ``Keys("j").round_open(3)`` is ``/resilience/j/round/3/open``."""

    run_id: str

    @property
    def prefix(self) -> str:
        return f"/resilience/{self.run_id}/"

    def _k(self, suffix: str) -> str:
        return self.prefix + suffix

    # -- rounds --------------------------------------------------------------------------
    def round_open(self, n: int) -> str:
        """Exists once round n is open for joins (value: JSON OpenRecord)."""
        return self._k(f"round/{n}/open")

    def round_joined(self, n: int) -> str:
        """Atomic add counter; the value an add returns is the joiner's slot + 1."""
        return self._k(f"round/{n}/joined")

    def round_slot(self, n: int, slot: int) -> str:
        return self._k(f"round/{n}/slot/{slot}")

    def round_alive(self, n: int, slot: int) -> str:
        """Keep-alive lease of a joiner waiting for round n to close (wall-clock seconds)."""
        return self._k(f"round/{n}/alive/{slot}")

    def round_waiting(self, n: int) -> str:
        """Node ids (appended, one per line) of agents that waited for round n to open."""
        return self._k(f"round/{n}/waiting")

    def latest_round(self) -> str:
        """The newest round the leader has seen open; late joiners start from here."""
        return self._k("round/latest")

    def round_assignment(self, n: int, slot: int) -> str:
        return self._k(f"round/{n}/assignment/{slot}")

    def round_closed(self, n: int) -> str:
        """Exists once round n is closed; written after every assignment (value: CloseRecord)."""
        return self._k(f"round/{n}/closed")

    # -- cycles --------------------------------------------------------------------------
    def cycle_failure(self, c: int, node_id: str) -> str:
        return self._k(f"cycle/{c}/failure/{node_id}")

    def cycle_succeeded(self, c: int) -> str:
        """Atomic add counter of active nodes whose workers all exited 0 in cycle c."""
        return self._k(f"cycle/{c}/succeeded")

    def cycle_trigger(self, c: int) -> str:
        return self._k(f"cycle/{c}/trigger")

    def cycle_verdict(self, c: int) -> str:
        return self._k(f"cycle/{c}/verdict")

    # -- job -----------------------------------------------------------------------------
    def shutdown(self) -> str:
        """Permanent close; first reason wins (compare-set from empty)."""
        return self._k("shutdown")

    def exit_ack(self, node_id: str) -> str:
        """Exists once agent ``node_id`` read the outcome and is leaving (exit barrier)."""
        return self._k(f"exit/ack/{node_id}")

"""The leader's attribution gate (ARCHITECTURE.md section 4), consulted by the round closer.

``on_failure(c)`` runs when round c+1 opens: it starts the deadline and triggers the remote
sources once (the store's ``cycle/<c>/trigger`` counter dedupes). ``decide(c, joined, now)`` runs
when the round could close: it reads every rejoined node's failure record (with its streaming
digests), computes the embedded verdict, collects remote answers, and returns a decision, or
None while remote answers are pending and the deadline has not passed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from pydantic import ValidationError

from resilience.attribution import (
    CycleRecord,
    NodeDigest,
    Policy,
    Verdict,
    apply_repeat_rule,
    combine,
    made_progress,
)
from resilience.config.models import AttributionConfig
from resilience.decide.combine import GateDecision, aggregate, decide_from_verdict
from resilience.keys import Keys
from resilience.records import FailureRecord, OpenRecord, Participant, decode
from resilience.sources.base import AttributionRequest, AttributionSource
from resilience.store import Store, try_get

__all__ = ["AttributionGate"]

Emit = Callable[..., None]


@dataclass
class _Cycle:
    started: float
    deadline: float
    embedded: Verdict | None = None
    digests: list[NodeDigest] = field(default_factory=list)
    decided: bool = False
    reported_late: set[str] = field(default_factory=set)


class AttributionGate:
    def __init__(
        self,
        store: Store,
        keys: Keys,
        cfg: AttributionConfig,
        policy: Policy,
        sources: Sequence[AttributionSource],
        emit: Emit,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.store, self.keys, self.cfg, self.policy = store, keys, cfg, policy
        self.sources, self.emit, self.clock = list(sources), emit, clock
        self.repeat_limit = cfg.repeat_limit or policy.repeat_limit
        self._cycles: dict[int, _Cycle] = {}
        self._history: list[CycleRecord] = []
        self._prev_digests: list[NodeDigest] = []

    # -- failure: start the clock, trigger the slow sources once --------------------------
    def on_failure(self, cycle: int) -> None:
        now = self.clock()
        self._cycles[cycle] = _Cycle(started=now, deadline=now + self.cfg.decision_timeout)
        if not self.sources or self.store.add(self.keys.cycle_trigger(cycle), 1) != 1:
            return
        paths = self._opener_log_paths(cycle)
        if not paths:
            self.emit(
                "trigger_skipped",
                f"cycle {cycle}: no log paths to send to remote sources",
                cycle=cycle,
            )
            return
        request = AttributionRequest(job_id=self.keys.run_id, cycle_id=cycle, log_paths=paths)
        for source in self.sources:
            source.trigger(request)  # non-blocking by contract
        self.emit(
            "trigger",
            f"cycle {cycle}: asked {', '.join(s.name for s in self.sources)}",
            cycle=cycle,
            sources=[s.name for s in self.sources],
        )

    def _opener_log_paths(self, cycle: int) -> list[str]:
        opened = decode(OpenRecord, self.store.get(self.keys.round_open(cycle + 1)))
        raw = try_get(self.store, self.keys.cycle_failure(cycle, opened.opened_by))
        return [] if raw is None else decode(FailureRecord, raw).log_paths

    # -- decision -------------------------------------------------------------------------
    def decide(self, cycle: int, joined: Sequence[Participant], now: float) -> GateDecision | None:
        state = self._cycles.get(cycle)
        if state is None:  # the round opened without a failure (e.g. a lost node): no verdict
            state = self._cycles[cycle] = _Cycle(started=now, deadline=now)
        if self.cfg.rules and state.embedded is None:
            state.digests = self._digests(cycle, joined)
            state.embedded = combine(state.digests, cycle, self.policy)
        answers = self._answers(cycle)
        pending = [s.name for s in self.sources if s.name not in answers]
        if pending and now < state.deadline:
            return None
        verdicts = dict(answers)
        if state.embedded is not None:
            verdicts["rules"] = state.embedded
        verdict = aggregate(verdicts, self.cfg.aggregation)
        if verdict is not None:
            progressed = made_progress(self._prev_digests, state.digests)
            verdict = apply_repeat_rule(self._history, verdict, progressed, self.repeat_limit)
            self._history.append(
                CycleRecord(cycle_id=cycle, fingerprint=verdict.fingerprint, progressed=progressed)
            )
            self.store.set(self.keys.cycle_verdict(cycle), verdict.to_json())
        self._prev_digests = state.digests
        state.decided = True
        state.reported_late = set(answers)  # answers that made it in time are not late
        why = (
            f"timed out after {self.cfg.decision_timeout:g}s waiting for {', '.join(pending)}"
            if pending
            else "no source is enabled"
        )
        decision = decide_from_verdict(verdict, self.cfg.dry_run, why)
        self.emit(
            "decision",
            f"cycle {cycle}: {decision.reason}",
            cycle=cycle,
            latency=round(now - state.started, 4),
            stop=decision.stop,
            verdict=verdict.model_dump(mode="json") if verdict else None,
            pending=pending,
        )
        return decision

    def _answers(self, cycle: int) -> dict[str, Verdict]:
        out = {}
        for source in self.sources:
            v = source.verdict(cycle)
            if v is not None and v.cycle_id == cycle:
                out[source.name] = v
        return out

    def _digests(self, cycle: int, joined: Sequence[Participant]) -> list[NodeDigest]:
        raws = (try_get(self.store, self.keys.cycle_failure(cycle, p.node_id)) for p in joined)
        digests: list[NodeDigest] = []
        for raw in filter(None, raws):
            record = decode(FailureRecord, raw)
            for text in record.digests:
                try:
                    digests.append(NodeDigest.model_validate_json(text))
                except ValidationError:
                    self.emit(
                        "bad_digest",
                        f"cycle {cycle}: ignored a malformed digest from {record.node_id}",
                        cycle=cycle,
                    )
        return digests

    # -- late answers ---------------------------------------------------------------------
    def poll_late(self) -> None:
        """Log remote answers that arrived after their cycle was decided; never act on them."""
        for cycle, state in self._cycles.items():
            if not state.decided:
                continue
            for name, v in self._answers(cycle).items():
                if name not in state.reported_late:
                    state.reported_late.add(name)
                    self.emit(
                        "late_verdict",
                        f"cycle {cycle}: late verdict from {name}: "
                        f"{v.action.value} {v.category.value} (ignored; the cycle already "
                        f"restarted)",
                        cycle=cycle,
                        verdict=v.model_dump(mode="json"),
                    )

    def close(self) -> None:
        for source in self.sources:
            source.close()

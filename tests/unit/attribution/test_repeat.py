from __future__ import annotations

from resilience.attribution import Action, Category, CycleRecord, Verdict, apply_repeat_rule


def _v(fp: str, action: Action = Action.RESTART, cycle: int = 2) -> Verdict:
    return Verdict(cycle_id=cycle, action=action, category=Category.NETWORK, confidence=0.6,
                   reason="rank 3 NET/IB error", fingerprint=fp)


def test_same_root_twice_without_progress_stops_with_reason() -> None:
    out = apply_repeat_rule([CycleRecord(cycle_id=1, fingerprint="n:a")], _v("n:a"), False)
    assert out.action is Action.STOP and out.category is Category.NETWORK
    assert "2 consecutive cycles" in out.reason and "rank 3 NET/IB error" in out.reason


def test_progress_different_root_or_limit_keep_restart() -> None:
    hist = [CycleRecord(cycle_id=1, fingerprint="n:a")]
    assert apply_repeat_rule(hist, _v("n:a"), progressed=True).action is Action.RESTART
    assert apply_repeat_rule(hist, _v("n:b"), False).action is Action.RESTART
    assert apply_repeat_rule(hist, _v("n:a"), False, repeat_limit=3).action is Action.RESTART
    assert apply_repeat_rule([], _v("n:a"), False).action is Action.RESTART


def test_progress_inside_history_breaks_the_chain() -> None:
    hist = [CycleRecord(cycle_id=0, fingerprint="n:a"),
            CycleRecord(cycle_id=1, fingerprint="n:a", progressed=True)]
    assert apply_repeat_rule(hist, _v("n:a"), False, repeat_limit=3).action is Action.RESTART
    no_progress = [CycleRecord(cycle_id=0, fingerprint="n:a"), _v("n:a", cycle=1)]
    assert apply_repeat_rule(no_progress, _v("n:a"), False, repeat_limit=3).action is Action.STOP


def test_stop_stays_stop() -> None:
    v = _v("n:a", Action.STOP)
    assert apply_repeat_rule([], v, True) is v

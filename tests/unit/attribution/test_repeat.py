from __future__ import annotations

from resilience.attribution import (
    Action,
    Analyzer,
    Category,
    CycleRecord,
    Verdict,
    analyze_lines,
    apply_repeat_rule,
)


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


# ---- torchelastic's own restarts split one log into cycles (`markers.RestartWatch`) -------

_IB = ("cx-gpu-33:{pid}:{pid} [2] NCCL WARN NET/IB : mlx5_2:1 Got async event : local "
       "catastrophic error")


def _attempt(pid: int, left: int | None, total: int = 2) -> list[str]:
    lines = ["[default] Starting worker group", _IB.format(pid=pid),
             f"torch.distributed.elastic.multiprocessing.api: [ERROR] failed (exitcode: 1) "
             f"local_rank: 2 (pid: {pid}) of binary: /usr/bin/python"]
    if left is not None:
        lines.append("torch.distributed.elastic.agent.server.api: [INFO] [default] Worker group "
                     f"FAILED. {left}/{total} attempts left; will restart worker group")
    return lines


def test_torchelastic_restarting_on_the_same_root_without_progress_stops() -> None:
    lines = [*_attempt(11204, 2), *_attempt(11673, 1), *_attempt(12142, None)]
    analyzer = Analyzer()
    for line in lines:
        analyzer.feed(line)
    assert [d.cycle_id for d in analyzer.digests()] == [0, 1, 2]
    v = analyze_lines(lines)
    assert (v.action, v.category) == (Action.STOP, Category.NETWORK)
    assert "consecutive cycles" in v.reason
    # the same attempts with training steps in between: restarts help, RESTART
    progressed = [*_attempt(11204, 2), "step 100", *_attempt(11673, 1), "step 200", "step 300",
                  *_attempt(12142, None)]
    assert analyze_lines(progressed).action is Action.RESTART


def test_a_paste_that_ends_at_torchelastics_restart_line_keeps_the_failure_before_it() -> None:
    analyzer = Analyzer()
    for line in _attempt(30144, 3, total=3):
        analyzer.feed(line)
    assert [d.cycle_id for d in analyzer.digests()] == [0]
    assert analyze_lines(_attempt(30144, 3, total=3)).category is Category.NETWORK
    # a note below the restart line that quotes an error is no attempt of its own
    note = "Notes: every rank raised the same FloatingPointError: loss is nan both times"
    v = analyze_lines([*_attempt(30144, 3, total=3), note])
    assert (v.category, v.cycle_id) == (Category.NETWORK, 0)


def test_mmengines_invalid_loss_hook_is_numerical_and_restarts_after_a_new_checkpoint() -> None:
    nan = ["11/20 00:08:45 - mmengine - INFO - loss become infinite or NaN!",
           "    assert torch.isfinite(outputs['loss']), \\", "AssertionError: None",
           "torch.distributed.elastic.multiprocessing.api: [ERROR] failed (exitcode: 1) "
           "local_rank: 0 (pid: 51230) of binary: /opt/conda/bin/python"]
    restart = ("torch.distributed.elastic.agent.server.api: [INFO] [default] Worker group FAILED. "
               "1/1 attempts left; will restart worker group")
    v = analyze_lines(nan)
    assert (v.action, v.category) == (Action.STOP, Category.NUMERICAL)
    resumed = ["Epoch(train) [37][100/800]", "Saving checkpoint at 37 epochs",
               "Epoch(train) [38][100/800]", "Saving checkpoint at 38 epochs"]
    v = analyze_lines([*nan, restart, *resumed, *nan])
    assert (v.action, v.category) == (Action.RESTART, Category.NUMERICAL)


def test_torchelastics_restart_splits_the_same_wherever_the_chunks_of_a_log_end() -> None:
    between = ["[rank2]: torch.distributed.DistBackendError: NCCL error: remote process exited",
               "step 5"]  # lines between the failure line and the restart line stay before it
    first = _attempt(11204, 2)
    lines = [*first[:3], *between, first[3], *_attempt(11673, 1), "step 9",
             *_attempt(12142, None)]
    data = "\n".join(lines).encode() + b"\n"
    whole = Analyzer()
    whole.feed_bytes(data)
    want = [d.model_dump() for d in whole.digests()]
    assert [d["cycle_id"] for d in want] == [0, 1, 2]
    assert [c["line"] for c in want[0]["candidates"]] == [2, 4]  # rank 2's line in attempt 0
    for cut in range(1, len(data)):
        analyzer = Analyzer()
        analyzer.feed_bytes(data[:cut])
        analyzer.feed_bytes(data[cut:])
        assert [d.model_dump() for d in analyzer.digests()] == want, cut


def test_a_straggler_after_the_restart_line_is_no_attempt_of_its_own() -> None:
    ib = "[rank{r}]: torch.distributed.DistBackendError: NCCL error: unhandled system error"
    lines = [ib.format(r=1), *_attempt(1234, 3, total=3)[2:], ib.format(r=2)]
    v = analyze_lines(lines)
    assert (v.action, v.cycle_id) == (Action.RESTART, 0)  # one failure, not two alike
    # an attempt that failed at once, with nothing of its own but its error, stays its cycle's
    ecc = "RuntimeError: CUDA error: uncorrectable ECC error encountered"
    v = analyze_lines([*_attempt(1234, 3, total=3)[2:], ecc])
    assert v.category is Category.GPU_HARDWARE


def test_ftruns_own_streams_keep_ftruns_cycle_whatever_a_worker_prints() -> None:
    analyzer = Analyzer(cycle_id=7, split_restarts=False)  # what ftrun's pipe runs
    for line in [*_attempt(11204, 2), *_attempt(11673, 1)]:
        analyzer.feed(line)
    assert [d.cycle_id for d in analyzer.digests()] == [7]

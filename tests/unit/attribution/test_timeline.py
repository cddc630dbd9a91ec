"""A paste that holds two jobs: the clocks, not the line order, say which lines belong to the
failure that ended this one (`timeline.py`)."""

from __future__ import annotations

from resilience.attribution import Action, analyze_lines

from .conftest import category_culprits as _verdict


def _root_cause(when: str, host: str, rank: int, local: int, code: int = 1) -> list[str]:
    return [
        "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
        "Root Cause (first observed failure):", "[0]:", f"  time      : {when}",
        f"  host      : {host}", f"  rank      : {rank} (local_rank: {local})",
        f"  exitcode  : {code} (pid: 53111)", "  error_file: <N/A>",
        "  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html",
        "=" * 60,
    ]


_CORRUPT = "RuntimeError: PytorchStreamReader failed reading zip archive: failed finding central "\
    "directory"
_LIMIT = "slurmstepd: error: *** JOB 7781200 ON bx-0201 CANCELLED AT {} DUE TO TIME LIMIT ***"


def test_the_previous_jobs_time_limit_pasted_below_this_crash_is_not_its_root() -> None:
    lines = [f"2: [default3]:{_CORRUPT}", *_root_cause("2024-01-18_07:01:44", "bx-0203", 19, 3),
             "The previous job ended like this:",
             "[2024-01-18 05:59:31,207] [INFO] Saving model checkpoint: ckpt/global_step12000",
             _LIMIT.format("2024-01-18T06:00:04")]
    v = analyze_lines(lines)
    assert (v.action, v.category.value, list(v.culprit_ranks)) == (
        Action.RESTART, "storage", [19])
    # the same time limit a minute before the workers died is this job's: it killed them
    v = analyze_lines([_LIMIT.format("2024-01-18T07:00:50"), *lines[:-1]])
    assert (v.action, v.category.value) == (Action.STOP, "scheduler")


def test_a_time_limit_hours_before_this_jobs_own_step_cancel_was_the_previous_jobs() -> None:
    """No worker line carries a clock, but srun's cancel of this job's step does."""
    crash = [f"5: {_CORRUPT}", "srun: error: bx-0202: task 5: Exited with exit code 1",
             "0: slurmstepd: error: *** STEP 7781388.0 ON bx-0201 CANCELLED AT "
             "2024-01-18T10:13:31 ***"]
    v = analyze_lines([*crash, "The previous job ended like this:", _LIMIT.format(
        "2024-01-18T07:00:13")])
    assert (v.action, v.category.value, list(v.culprit_ranks)) == (
        Action.RESTART, "storage", [5])
    # the time limit that cancelled this step, at the same time, is the root
    v = analyze_lines([*crash, _LIMIT.format("2024-01-18T10:13:31")])
    assert (v.action, v.category.value) == (Action.STOP, "scheduler")


def test_a_plain_cancel_after_a_worker_failed_is_someone_giving_up_on_the_hang() -> None:
    cancel = "slurmstepd: error: *** JOB 2291877 ON tc-gpu-18 CANCELLED AT 2023-06-14T12:31:55 ***"
    shape = ("1: RuntimeError: The size of tensor a (4096) must match the size of tensor b "
             "(4097) at non-singleton dimension 1")
    lines = [shape, *_root_cause("2023-06-14_11:42:07", "tc-gpu-19", 19, 3), cancel]
    v = analyze_lines(lines)
    assert (v.action, v.category.value) == (Action.STOP, "user_code")
    # cancelled first, the worker died of it after: the cancel is the root
    v = analyze_lines([cancel, shape, *_root_cause("2023-06-14_12:31:58", "tc-gpu-19", 19, 3)])
    assert (v.action, v.category.value) == (Action.RESTART, "scheduler")


def test_a_plain_cancel_the_watchdogs_30_minutes_after_a_failure_is_no_root() -> None:
    cancel = "slurmstepd: error: *** JOB 2291904 ON c-213 CANCELLED AT 2023-04-11T03:18:02 ***"
    shape = ("1: RuntimeError: The size of tensor a (4096) must match the size of tensor b "
             "(4097) at non-singleton dimension 1")

    def category(failed_at: str) -> str:
        return analyze_lines([shape, *_root_cause(failed_at, "c-214", 6, 2), cancel]) \
            .category.value

    # 30 min 43 s before: before the cancel whether the clocks are in one zone or two
    assert category("2023-04-11_02:47:19") == "user_code"
    # 1 h 7 s before: in two zones, 7 s: the worker may have died of the cancel
    assert category("2023-04-11_02:17:55") == "scheduler"


_NAN = "{r}: [{t}] CRITICAL [olmo.util:158, rank={r}] Uncaught ValueError: nan loss encountered"


def test_an_earlier_runs_numerical_failure_pasted_below_a_newer_checkpoint_is_stale() -> None:
    today = ["0: [2024-02-20 09:31:04] INFO Loading checkpoint from ckpt/step9000...",
             "0: [2024-02-20 10:12:00] INFO [step=9230/739328]",
             "0: [2024-02-20 11:59:23] INFO Checkpoint saved to ckpt/step10000",
             "0: [2024-02-20 12:58:27] INFO [step=10410/739328]",
             _NAN.format(r=21, t="2024-02-20 12:58:53")]
    yesterday = ["0: [2024-02-19 17:12:31] INFO [step=9230/739328]",
                 _NAN.format(r=5, t="2024-02-19 17:12:40")]
    v = analyze_lines([*today, "For comparison, yesterday's job:", *yesterday])
    # a checkpoint saved after the previous failure, and this is a new step: RESTART
    assert (v.action, v.category.value, list(v.culprit_ranks)) == (
        Action.RESTART, "numerical", [21])
    # without the earlier run the same NaN is the code's to fix
    v = analyze_lines(today)
    assert (v.action, list(v.culprit_ranks)) == (Action.STOP, [21])


def test_a_checkpoint_still_being_written_when_a_rank_failed_leaves_the_failure_live() -> None:
    v = analyze_lines([
        "0: [2024-02-20 11:40:00] INFO [step=9990/739328]",
        "0: [2024-02-20 11:59:23] INFO Checkpoint saved to ckpt/step10000",
        _NAN.format(r=21, t="2024-02-20 11:58:53"),  # 30 s before the save finished
    ])
    assert (v.action, v.category.value, list(v.culprit_ranks)) == (
        Action.STOP, "numerical", [21])


def test_progress_below_a_crash_but_stamped_hours_before_it_does_not_make_it_stale() -> None:
    crash = "[2024-01-18 07:01:44,000] [ERROR] " + _CORRUPT
    old = ["[2024-01-18 05:58:00,000] [INFO] iteration 11990/20000",
           "[2024-01-18 05:59:00,000] [INFO] iteration 12000/20000",
           "[2024-01-18 05:59:31,207] [INFO] Saving model checkpoint: ckpt/global_step12000"]
    v = analyze_lines([crash, "the previous job's tail:", *old])
    assert (v.action, v.category.value) == (Action.RESTART, "storage")
    # the same progress stamped after the crash: training went on, the line did not end it
    later = [line.replace("05:5", "07:5") for line in old]
    v = analyze_lines([crash, *later])
    assert v.category.value != "storage"


def test_the_torchelastic_agents_logger_under_an_srun_task_id_makes_task_ids_nodes() -> None:
    shape = ("1: RuntimeError: The size of tensor a (4096) must match the size of tensor b "
             "(4097) at non-singleton dimension 1")
    agent = ("1: ERROR:torch.distributed.elastic.multiprocessing.api:failed (exitcode: 1) "
             "local_rank: 3 (pid: 60218) of binary: /usr/bin/python")
    srun = "srun: error: tc-gpu-19: task 1: Exited with exit code 1"
    v = analyze_lines([shape, agent, srun])
    assert (list(v.culprit_ranks), list(v.culprit_nodes)) == ([], ["tc-gpu-19"])
    # without the agent's line, task 1 may be rank 1 (srun started one task per rank)
    v = analyze_lines([shape, srun])
    assert (list(v.culprit_ranks), list(v.culprit_nodes)) == ([1], ["tc-gpu-19"])
    # nor with the agent of one worker per task (`--nproc_per_node=1`): task ids stay ranks
    v = analyze_lines([shape, agent.replace("local_rank: 3", "local_rank: 0"), srun])
    assert (list(v.culprit_ranks), list(v.culprit_nodes)) == ([1], ["tc-gpu-19"])


def test_clocks_that_may_be_two_time_zones_or_the_year_turning_are_no_evidence() -> None:
    # the workers stamp UTC, slurmstepd local time (UTC+2): their failures 2 h "after" the
    # time limit are the time limit's own SIGTERMs
    lines = [_LIMIT.format("2024-01-18T09:00:04"), f"2: [default3]:{_CORRUPT}",
             *_root_cause("2024-01-18_07:00:21", "bx-0203", 19, 3)]
    v = analyze_lines([_LIMIT.format("2024-01-18T07:00:04"), *lines[1:]])
    assert (v.action, v.category.value) == (Action.STOP, "scheduler")  # same zone: 17 s after
    v = analyze_lines([*lines[1:], _LIMIT.format("2024-01-18T05:00:04")])
    assert (v.action, v.category.value) == (Action.STOP, "scheduler")  # 2 h 17 s: a zone
    # a checkpoint on New Year's Eve, an OOM after midnight: not an earlier run's line
    v = analyze_lines(["[2023-12-31 23:10:00] step 900", "[2023-12-31 23:30:00] step 1000",
                       "[2023-12-31 23:30:09] Saved checkpoint ckpt/step1000",
                       "[2024-01-01 00:12:31] [rank3]: torch.OutOfMemoryError: CUDA out of "
                       "memory. Tried to allocate 2.00 GiB"])
    assert (v.action, v.category.value, list(v.culprit_ranks)) == (Action.STOP, "cuda_oom", [3])


def _two_terminals(timeout_at: str) -> list[str]:
    """One node's crash and its torchelastic record, then the other node's terminal: its
    progress, then its watchdog timeouts stamped `timeout_at` (a collective of 30 min)."""
    return [
        "--- gpunode-17 terminal ---",
        "[rank6]: RuntimeError: CUDA error: device-side assert triggered",
        "Root Cause (first observed failure):", "[0]:", "  time      : 2024-09-19_10:14:38",
        "  host      : gpunode-17", "  rank      : 6 (local_rank: 2)",
        "  exitcode  : -6 (pid: 22547)", "=" * 54,
        "--- gpunode-16 terminal ---",
        "step 4400 | loss 3.112", "step 4450 | loss 3.104", "step 4500 | loss 3.097",
        f"[rank1]:[E919 {timeout_at}.120551 ProcessGroupNCCL.cpp:607] [Rank 1] Watchdog caught "
        "collective operation timeout: WorkNCCL(SeqNum=27210, OpType=ALLREDUCE, NumelIn=1, "
        "NumelOut=1, Timeout(ms)=1800000) ran for 1800087 milliseconds before timing out.",
    ]


def test_timeouts_whose_collective_began_when_a_rank_failed_are_its_consequences() -> None:
    # the collective that timed out at 10:44:38 began at 10:14:38, when rank 6 failed: the
    # progress pasted between them is the other node's, before the failure
    assert _verdict(_two_terminals("10:44:38")) == ("user_code", [6], ["gpunode-17"])
    # timeouts of a collective begun over an hour later: training went on after rank 6's
    # failure (a gap of whole half hours may be two time zones: no evidence either way)
    assert _verdict(_two_terminals("12:01:07"))[0] == "hang"
    assert _verdict(_two_terminals("09:01:07"))[0] == "hang"  # ... or earlier

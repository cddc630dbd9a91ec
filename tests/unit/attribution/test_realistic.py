"""Rules learned from the realistic corpora (logs reconstructed from public bug reports by
helpers who had not seen the patterns), and a guard that the engine keeps the issue's accuracy
targets on the sets that were tuned on (realistic_dev, and the held-out sets v1-v16 once
spent). The newest held-out set is scored by bench/attribution_eval.py only: never tuned on,
never in a test."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from resilience.attribution import Action, analyze_lines

from .conftest import CORPUS

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "bench"))
from attribution_eval import evaluate


def test_two_attempts_in_one_log_a_checkpoint_between_numerical_failures_restarts() -> None:
    lines = ["Epoch: [56] [1200/1251] loss: 3.99", "Loss is nan, stopping training",
             "==> slurm-2.out <==", "Resuming from checkpoint-0056.pth (epoch 56)",
             "Epoch: [57] [1200/1251] loss: 3.98", "Saved checkpoint out/checkpoint-0057.pth",
             "Epoch: [58] [1200/1251] loss: 3.97", "Saved checkpoint out/checkpoint-0058.pth",
             "Loss is nan, stopping training"]
    v = analyze_lines(lines)
    assert (v.action, v.category.value) == (Action.RESTART, "numerical")
    assert v.evidence[0].line == 9  # the second failure, not the stale first one
    # no checkpoint between: the failure that ended the log is the root, and numerical is STOP
    # unless a checkpoint was saved since the previous failure (an error the job went on after
    # is replaced once by its recurrence; one it survived again and again is not: below)
    v = analyze_lines([*lines[:5], "step 900", "step 901", "Loss is nan, stopping training"])
    assert (v.action, v.evidence[0].line) == (Action.STOP, 8)


def test_an_error_the_job_survives_again_and_again_is_not_the_root() -> None:
    lines = []
    for step in range(1, 2001):
        lines.append(f"step {step} loss 2.0")
        if step % 100 == 0:
            lines.append("KeyError: 'caption'  (sample skipped)")
    v = analyze_lines(lines)  # then the worker died without a word (SIGKILL)
    assert v.action is Action.RESTART


def test_a_title_quoting_the_error_above_the_training_output_does_not_hide_the_error() -> None:
    assertion = ("../aten/src/ATen/native/cuda/Loss.cu:250: nll_loss_forward_reduce_cuda_kernel_2d:"
                 " block: [0,0,0], thread: [11,0,0] Assertion `t >= 0 && t < n_classes` failed.")
    lines = ['Forum: "DDP with mp.spawn: CUDA error: device-side assert triggered, always rank 2"',
             "[rank 0] epoch 0 step 0 loss 3.70", "[rank 0] epoch 0 step 100 loss 2.11",
             "[rank 0] epoch 0 step 200 loss 1.33", assertion,
             "RuntimeError: CUDA error: device-side assert triggered"]
    v = analyze_lines(lines)
    assert (v.action, v.category.value, v.evidence[0].line) == (Action.STOP, "user_code", 5)
    # a rank's error logged and survived twice, then a hang: the hang, not the error
    caught = "[rank3]: ValueError: sample 812 has no tokens (skipped)"
    timeout = ("[rank0]:[E ProcessGroupNCCL.cpp:475] [Rank 0] Watchdog caught collective "
               "operation timeout: WorkNCCL(SeqNum=9, OpType=ALLREDUCE) ran for 1800095 ms")
    v = analyze_lines(["step 100", caught, "step 200", "step 300", caught, "step 301", timeout])
    assert (v.action, v.category.value) == (Action.RESTART, "hang")


def test_srun_task_lines_name_the_node_of_a_rank() -> None:
    v = analyze_lines([
        "5: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
        "srun: error: gpu-b-02: task 5: Exited with exit code 1",
    ])
    assert (v.category.value, list(v.culprit_ranks), list(v.culprit_nodes)) == (
        "cuda_oom", [5], ["gpu-b-02"])


def test_cuda_kernel_assertions_are_the_code_not_the_cublas_error_after_them() -> None:
    v = analyze_lines([
        "../aten/src/ATen/native/cuda/Indexing.cu:1289: indexSelectLargeIndex: block: [211,0,0],"
        " thread: [96,0,0] Assertion `srcIndex < srcSelectDimSize` failed.",
        "RuntimeError: CUDA error: CUBLAS_STATUS_EXECUTION_FAILED when calling `cublasGemmEx(...)`",
    ])
    assert (v.action, v.category.value) == (Action.STOP, "user_code")


def test_too_many_open_files_is_the_job_s_own_limit() -> None:
    v = analyze_lines(["OSError: [Errno 24] Too many open files"])
    assert (v.action, v.category.value) == (Action.STOP, "host")
    # on one rank while others fail otherwise: that node's ulimit, not proven the job's
    v = analyze_lines(["[rank3]: OSError: [Errno 24] Too many open files",
                       "[rank5]: RuntimeError: NCCL error: remote process exited"])
    assert v.action is Action.RESTART


@pytest.mark.parametrize(("corpus", "culprit_target", "stop_target"), [
    ("realistic_dev", 0.80, 0.95),
    # held-out sets once spent (their failures were read): regression guards now
    ("realistic_holdout", 0.80, 0.95),
    ("realistic_holdout_v2", 0.80, 0.95),
    ("realistic_holdout_v3", 0.90, 0.95),
    ("realistic_holdout_v4", 0.85, 0.95),
    ("realistic_holdout_v5", 0.91, 0.95),
    ("realistic_holdout_v6", 0.86, 0.95),
    ("realistic_holdout_v7", 0.79, 0.95),
    ("realistic_holdout_v8", 0.80, 0.95),
    # first score (session 6) 54.5 %; its one false STOP (/dev/shm full of another job's
    # files on one node, which only an admin's `df` in the paste shows) is not fixed
    ("realistic_holdout_v9", 0.79, 0.95),
    # first score (session 7): action 86.7 %, 2 false STOPs, culprit 48.9 %; now (session 11)
    # 100 %, none, 77.8 %
    ("realistic_holdout_v10", 0.75, 0.95),
    # first score (session 8): action 93.6 %, 3 false STOPs, culprit 67.4 %; now 97.9 %, one
    # (one node's /dev/shm mounted at 64M, which only an admin's `df` shows), 76.1 %
    ("realistic_holdout_v11", 0.73, 0.95),
    # first score (session 9): action 88.6 %, 2 false STOPs, culprit 72.7 %; now 97.7 %, none,
    # 88.6 %
    ("realistic_holdout_v12", 0.86, 0.95),
    # first score (session 10): action 95.7 %, no false STOP, culprit 68.1 %; now 100 %, none,
    # 80.9 %
    ("realistic_holdout_v13", 0.80, 0.95),
    # first score (session 11, one writer's 22 logs): action, STOP and category 100 %, culprit
    # 50 %; now (session 12) 59.1 %
    ("realistic_holdout_v14", 0.54, 0.95),
    # first score (session 11, the other writer's 22 logs, scored at the session's last code):
    # action, STOP and category 100 %, culprit 77.3 % (the session-10 code: 68.2 %); now 90.9 %
    ("realistic_holdout_v15", 0.86, 0.95),
    # first score (session 12, both writers' 44 logs, at 14ced76): action 97.7 %, no false
    # STOP, category 95.5 %, culprit 61.4 % (the session-11 code: 59.1 %)
    ("realistic_holdout_v16", 0.59, 0.95),
])
def test_realistic_corpora_meet_the_accuracy_targets(
    corpus: str, culprit_target: float, stop_target: float
) -> None:
    outcomes = evaluate(CORPUS / corpus)
    stop_pred = [o for o in outcomes if o.verdict.action is Action.STOP]
    culprit = [o.culprit_ok for o in outcomes if o.culprit_ok is not None]
    assert len(outcomes) >= 20  # (a truncated labels file)
    assert sum(o.action_ok for o in outcomes) >= 0.90 * len(outcomes)
    assert sum(o.action_ok for o in stop_pred) >= stop_target * len(stop_pred)
    assert sum(o.category_ok for o in outcomes) >= 0.80 * len(outcomes)
    assert sum(culprit) >= culprit_target * len(culprit)


def test_an_xid_names_its_node_through_the_pid_of_an_nccl_prefix() -> None:
    v = analyze_lines([
        "dgx07:51210:51388 [2] enqueue.cc:1556 NCCL WARN Cuda failure 'unspecified launch failure'",
        "[Tue May  9 14:41:39 2023] NVRM: Xid (PCI:0000:47:00): 74, pid=51210, name=python, "
        "NVLink: fatal error detected on link 6(0x10000, 0x0, 0x0, 0x0, 0x0, 0x0, 0x0)",
    ])
    assert (v.category.value, list(v.culprit_nodes)) == ("gpu_hardware", ["dgx07"])


ELASTIC = [
    "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
    "============================================================",
    "train.py FAILED",
    "------------------------------------------------------------",
    "Root Cause (first observed failure):",
    "[0]:",
    "  time      : 2024-03-01_10:11:12",
    "  host      : node-b",
    "  rank      : 14 (local_rank: 6)",
    "  exitcode  : 1 (pid: 4242)",
    "  error_file: <N/A>",
    "  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html",
    "============================================================",
]


def test_a_local_rank_prefix_gets_its_global_rank_from_torchelastic() -> None:
    v = analyze_lines(["[default6]:torch.OutOfMemoryError: CUDA out of memory.", *ELASTIC])
    assert (list(v.culprit_ranks), list(v.culprit_nodes)) == ([14], ["node-b"])


def test_a_local_rank_on_a_multi_node_log_is_no_global_rank() -> None:
    lines = ["node-a:100:100 [0] NCCL WARN NET/IB : Got completion from peer",
             "node-b:200:200 [0] NCCL WARN NET/IB : Got completion from peer",
             "[default6]:torch.OutOfMemoryError: CUDA out of memory."]
    v = analyze_lines(lines)
    assert (v.category.value, list(v.culprit_ranks)) == ("cuda_oom", [])
    v = analyze_lines(lines[2:])  # one node: local == global
    assert list(v.culprit_ranks) == [6]


def test_a_line_naming_two_step_counters_is_one_advance() -> None:
    v = analyze_lines(["step 10", "RuntimeError: CUDA error: an illegal memory access was "
                       "encountered", "epoch 3 iter 11 global_step 3011"])
    assert (v.action, v.category.value) == (Action.STOP, "user_code")


def test_a_pid_seen_on_two_nodes_names_no_node() -> None:
    v = analyze_lines([
        "nodeA:42:42 [0] NCCL WARN Cuda failure 'unspecified launch failure'",
        "nodeB:42:42 [0] NCCL WARN Cuda failure 'unspecified launch failure'",
        "NVRM: Xid (PCI:0000:3b:00): 79, pid=42, name=python, GPU has fallen off the bus.",
    ])
    assert (v.category.value, list(v.culprit_nodes)) == ("gpu_hardware", [])


def test_a_dataloader_bus_error_is_shared_memory_the_job_exhausted() -> None:
    v = analyze_lines(["[rank1]: RuntimeError: DataLoader worker (pid 4410) is killed by signal:"
                       " Bus error. It is possible that dataloader's workers are out of shared "
                       "memory. Please try to raise your shared memory limit."])
    assert (v.action, v.category.value) == (Action.STOP, "host")
    v = analyze_lines(["Fatal Python error: Bus error"])  # a bare SIGBUS: the node's
    assert (v.action, v.category.value) == (Action.RESTART, "host")


def test_nccl_shared_memory_segments_on_a_full_dev_shm_are_host_not_storage() -> None:
    v = analyze_lines(["b8f1:1022:1391 [2] include/shm.h:28 NCCL WARN Call to posix_fallocate "
                       "failed : No space left on device"])
    assert (v.action, v.category.value) == (Action.STOP, "host")


def test_a_quota_line_without_the_word_error_is_read() -> None:
    v = analyze_lines(["touch: cannot touch '/scratch/ckpt/x': Disk quota exceeded"])
    assert (v.action, v.category.value) == (Action.STOP, "storage")


def test_pdsh_host_prefix_before_a_python_error() -> None:
    v = analyze_lines(["worker-1: ValueError: expected sequence of length 2048 at dim 1"])
    assert (v.action, v.category.value, list(v.culprit_nodes)) == (
        Action.STOP, "user_code", ["worker-1"])


def test_megatron_nan_grad_norm_assertion_is_numerical_and_a_later_rank_counts_too() -> None:
    nan = ("AssertionError: Rank {r}: found NaN in local grad norm in backward pass before "
           "data-parallel communication collective. Device: {r}, node: dgx-0007")
    first = [f"[default1]:{nan.format(r=1)}", "[default0]: loading checkpoint at iteration 29000",
             "[default0]: iteration 29800/100000", "[default0]: iteration 30000/100000",
             "[default0]:saving checkpoint at iteration 30000 to /ckpt",
             "[default0]:  successfully saved checkpoint at iteration 30000 to /ckpt",
             "[default0]: iteration 31250/100000", f"[default3]:{nan.format(r=3)}"]
    v = analyze_lines(first)  # a new rank, after a checkpoint since the first NaN: RESTART
    assert (v.action, v.category.value) == (Action.RESTART, "numerical")
    v = analyze_lines([nan.format(r=1)])
    assert (v.action, v.category.value) == (Action.STOP, "numerical")


def test_an_xid_without_a_rank_is_the_gpu_of_the_rank_that_saw_a_cuda_error() -> None:
    v = analyze_lines(["5: RuntimeError: CUDA error: unknown error",
                       "srun: error: gpu017: task 5: Aborted",
                       "Sep 12 02:19:07 gpu017 kernel: NVRM: Xid (PCI:0000:3b:00): 79, pid=1, "
                       "name=python, GPU has fallen off the bus."])
    assert (v.category.value, list(v.culprit_ranks), list(v.culprit_nodes)) == (
        "gpu_hardware", [5], ["gpu017"])


@pytest.mark.parametrize("disk", [
    "[Tue Jan  9 11:42:29 2024] blk_update_request: I/O error, dev nvme1n1, sector 1876231168 "
    "op 0x0:(READ)",
    "[Mon Mar 11 06:42:22 2024] critical medium error, dev nvme1n1, sector 1873120256 op "
    "0x0:(READ) flags 0x80700 phys_seg 32 prio class 2",
    "[Mon Mar 11 06:42:22 2024] nvme1n1: I/O Cmd(0x2) @ LBA 1873120256, 256 blocks, I/O Error "
    "(sct 0x2 / sc 0x81) DNR",
])
def test_a_dataloader_bus_error_next_to_disk_io_errors_is_the_node(disk: str) -> None:
    v = analyze_lines(["RuntimeError: DataLoader worker (pid 4410) is killed by signal: Bus error.",
                       disk])
    assert (v.action, v.category.value) == (Action.RESTART, "host")


def test_an_efa_completion_error_is_the_network_not_a_disk() -> None:
    v = analyze_lines([
        "queue1-dy-p4d24xlarge-3:41872:42117 [5] ofi_process_cq:1033 NCCL WARN NET/OFI Request "
        "0x7f32b8115318 completed with error. RC: 21. Error: Input/output error. Completed "
        "length: 0",
    ])
    assert (v.action, v.category.value) == (Action.RESTART, "network")


def test_a_local_rank_gets_its_global_rank_from_a_record_naming_its_host_by_full_name() -> None:
    lines = ["node-a:100:100 [0] NCCL WARN NET/IB : Got completion from peer",
             "node-b:88214:89936 [6] include/alloc.h:103 NCCL WARN Cuda failure 'out of memory'",
             "[default6]:node-b:88214:89936 [6] NCCL WARN Cuda failure 'out of memory'",
             *[line.replace("node-b", "node-b.cluster") for line in ELASTIC]]
    v = analyze_lines(lines)
    assert (v.category.value, list(v.culprit_ranks)) == ("cuda_oom", [14])


_CHECKLOSS = ["  File \"mmengine/hooks/checkloss_hook.py\", line 36, in after_train_iter",
              "    assert torch.isfinite(outputs['loss']), \\", "AssertionError: None"]


def test_a_bare_assertion_error_under_an_assert_of_finiteness_is_a_nan_loss() -> None:
    v = analyze_lines(_CHECKLOSS)
    assert (v.action, v.category.value) == (Action.STOP, "numerical")
    # any other bare assertion is the code's
    v = analyze_lines(["    assert len(batch) == cfg.batch_size", "AssertionError: None"])
    assert (v.action, v.category.value) == (Action.STOP, "user_code")


def test_a_nan_after_a_retry_that_saved_a_checkpoint_restarts() -> None:
    failed = ("ERROR:torch.distributed.elastic.multiprocessing.api:failed (exitcode: -6) "
              "local_rank: 2 (pid: 77122) of binary: /usr/bin/python")
    retry = ["===== attempt 2, --resume =====", "Iter(train) [ 6400/80000] grad_norm: 3.4",
             "Iter(train) [ 8000/80000] grad_norm: 4.9", "Saving checkpoint at 8000 iterations",
             "Iter(train) [ 8750/80000] grad_norm: 72.6"]
    v = analyze_lines([failed, *retry, *_CHECKLOSS])
    assert (v.action, v.category.value) == (Action.RESTART, "numerical")
    # the same retry without a checkpoint saved: the numerical default, STOP
    v = analyze_lines([failed, *retry[:3], retry[4], *_CHECKLOSS])
    assert v.action is Action.STOP
    # the final failure quoted at the top of the paste too (the same pid): no earlier failure
    v = analyze_lines([failed, *retry, *_CHECKLOSS, failed])
    assert v.action is Action.STOP


def test_rays_memory_monitor_kill_is_host_memory_not_a_cuda_oom() -> None:
    v = analyze_lines([
        "ray.exceptions.RayTaskError(OutOfMemoryError): ray::_Inner.train() (pid=3391, "
        "ip=10.0.44.12, repr=TorchTrainer)",
        "ray.exceptions.OutOfMemoryError: Task was killed due to the node running low on memory.",
    ])
    assert (v.action, v.category.value) == (Action.STOP, "host")


def test_rays_memory_monitor_names_the_worker_it_killed() -> None:
    """The line under the kill names the worker's pid; Ray Train's table gives its rank."""
    v = analyze_lines([
        "(TorchTrainer pid=3391) - (ip=10.0.44.19, pid=14920) world_rank=6, local_rank=2",
        "(TorchTrainer pid=3391) - (ip=10.0.44.12, pid=3479) world_rank=2, local_rank=2",
        "ray.exceptions.OutOfMemoryError: Task was killed due to the node running low on memory.",
        "Memory on the node (IP: 10.0.44.19, ID: 8f2a61c0d93e) where the task (actor ID: c4e17f, "
        "name=RayTrainWorker.__init__, pid=14920, memory used=21.36GB) was running was 179.42GB "
        "/ 186.70GB (0.961001), which exceeds the memory usage threshold of 0.95. Ray killed "
        "this worker (ID: 3a9d0e) because it was the most recently scheduled task",
    ])
    assert (v.action, v.category.value) == (Action.STOP, "host")
    assert (v.culprit_ranks, v.culprit_nodes) == ((6,), ("10.0.44.19",))
    # the pid of a task on another node than the worker with that pid (pids repeat): the node
    # the line names, not that worker
    v = analyze_lines([
        "(TorchTrainer pid=3391) - (ip=10.0.44.12, pid=3479) world_rank=2, local_rank=2",
        "Memory on the node (IP: 10.0.44.19, ID: 8f2a61c0d93e) where the task (task ID: 77a1, "
        "name=MapBatches(preprocess), pid=3479, memory used=21.36GB) was running was 179.42GB "
        "/ 186.70GB (0.961001), which exceeds the memory usage threshold of 0.95.",
    ])
    assert (v.culprit_ranks, v.culprit_nodes) == ((), ("10.0.44.19",))


def test_an_sdks_report_that_the_job_failed_is_no_root_of_its_own() -> None:
    v = analyze_lines([
        "[1,mpirank:18,algo-3]<stderr>:algo-3:382:1291 [2] NCCL WARN NET/OFI Request "
        "0x7f2c6c0a1e80 completed with error. RC: 21. Error: Input/output error.",
        "UnexpectedStatusException: Error for Training job llama-dp-2024-05-21: Failed. Reason: "
        "AlgorithmError: ExecuteUserScriptError: ExitCode 1",
    ])
    assert (v.action, v.category.value) == (Action.RESTART, "network")


def test_fp16s_loss_scale_at_its_floor_is_no_ranks_fault() -> None:
    """One loss scale for the whole job: whichever ranks print it, none is the culprit."""
    msg = "{t}: Exception: Current loss scale already at minimum - cannot decrease scale " \
        "anymore. Exiting run."
    v = analyze_lines([msg.format(t=t) for t in (0, 11, 2, 7, 13)])
    assert (v.category.value, v.culprit_ranks, v.culprit_nodes) == ("numerical", (), ())
    fairseq = "{t}: FloatingPointError: Minimum loss scale reached (0.0001). Your loss is " \
        "probably exploding. Try lowering the learning rate"
    v = analyze_lines([fairseq.format(t=t) for t in (3, 9, 17)])
    assert (v.category.value, v.culprit_ranks, v.culprit_nodes) == ("numerical", (), ())
    # a NaN loss of a few ranks names them
    v = analyze_lines([f"{t}: Loss is nan, stopping training" for t in (11, 13)])
    assert (v.category.value, v.culprit_ranks) == ("numerical", (11, 13))


def test_a_markdown_title_quoting_the_error_is_not_the_error() -> None:
    """`### ... crashes with "Bus error" on rank 2` names the symptom the user saw; the log
    below says it was /dev/shm. gdb's `#0 0x..` frames are no headings."""
    body = ["ERROR: Unexpected bus error encountered in worker. This might be caused by "
            "insufficient shared memory (shm)."]
    title = '### Bug: DINO training crashes with "Bus error" on rank 2, GPU faulty?'
    v = analyze_lines([title, *body])
    assert (v.action, v.category.value) == (Action.STOP, "host")
    assert v.evidence[0].text == body[0]
    v = analyze_lines(["#0  0x00007f3a in raise () Segmentation fault"])
    assert [e.line for e in v.evidence] == [1]


def test_a_title_quoting_a_nan_is_no_previous_failure_for_a_later_checkpoint() -> None:
    """A checkpoint saved after the forum title that names the NaN is not "a checkpoint since
    the previous failure": the title is a mention, the NaN below the first failure (STOP)."""
    title = 'Posted in: Lightning forum > Trainer > "FloatingPointError on all ranks after ~6 ' \
        'epochs, bad GPU on one node?"'
    run = [f"0: Epoch 5: {p}%| | {p * 29}/2940 [00:00<30:26, train_loss=0.07]"
           for p in range(0, 100, 10)]
    run.append("0: Saving checkpoint to /scratch/ckpt/epoch=5-step=17640.ckpt")
    run += [f"0: step {s} train_loss=0.06" for s in range(17700, 18800, 100)]
    nan = "{r}: FloatingPointError: Non-finite loss (nan) at global_step=18845, lr=1.000e-04"
    v = analyze_lines([title, *run, nan.format(r=0), nan.format(r=1)])
    assert (v.action, v.category.value) == (Action.STOP, "numerical")
    # the same NaN raised before the checkpoint (a first attempt in the same log): RESTART
    v = analyze_lines([nan.format(r=0), *run, nan.format(r=0), nan.format(r=1)])
    assert (v.action, v.category.value) == (Action.RESTART, "numerical")
    # a message line that is the fault, worded otherwise the second time: a failure too
    v = analyze_lines(["Loss is nan, stopping training", *run, "Loss is inf, stopping training"])
    assert (v.action, v.category.value) == (Action.RESTART, "numerical")
    # restoring a checkpoint is no save
    run[10] = "0: Restored all states from the checkpoint at /scratch/ckpt/last.ckpt"
    v = analyze_lines([nan.format(r=0), *run, nan.format(r=0), nan.format(r=1)])
    assert (v.action, v.category.value) == (Action.STOP, "numerical")


def test_mp_spawns_wrapper_exception_is_not_the_error_it_wraps() -> None:
    v = analyze_lines([
        "torch.multiprocessing.spawn.ProcessRaisedException: ",
        "",
        "-- Process 0 terminated with the following error:",
        "Traceback (most recent call last):",
        "torch.distributed.DistNetworkError: The server socket has failed to listen on any local "
        "network address. The server socket has failed to bind to [::]:12355 (errno: 98 - "
        "Address already in use).",
    ])
    assert (v.action, v.category.value, v.evidence[0].line) == (Action.RESTART, "rendezvous", 5)

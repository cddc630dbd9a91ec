"""More places a culprit's global rank and node come from: Kubernetes pods (their prefixes and
the env a PyTorchJob's entrypoint prints), the one worker that died silently of a signal while
the others timed out, the GPU index a line names on a mapped host, and the node rank printed
at the top of one node's section of a paste."""

from __future__ import annotations

from resilience.attribution import Analyzer, analyze_lines, combine
from resilience.attribution.lines import parse_line

from .conftest import category_culprits as _verdict

_TIMEOUT = ("[E ProcessGroupNCCL.cpp:475] [Rank {r}] Watchdog caught collective operation "
            "timeout: WorkNCCL(SeqNum=2886204, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, "
            "Timeout(ms)=1800000) ran for 1800095 milliseconds before timing out.")


def _block(kind: str, host: str, rank: int, local: int, code: int, sig: str) -> list[str]:
    return [
        f"{kind}:", "[0]:", "  time      : 2024-03-05_14:11:27", f"  host      : {host}",
        f"  rank      : {rank} (local_rank: {local})", f"  exitcode  : {code} (pid: 412)",
        "  error_file: <N/A>", f"  traceback : Signal {-code} ({sig}) received by PID 412",
        "=" * 60,
    ]


def test_a_pytorchjob_pods_env_gives_its_node_rank() -> None:
    lines = [
        "$ kubectl logs gpt-train-worker-2 | tail -60",
        "[entrypoint] MASTER_ADDR=gpt-train-master-0 WORLD_SIZE=4 RANK=3 PET_NNODES=4 "
        "PET_NPROC_PER_NODE=8 PET_NODE_RANK=3",
        "RuntimeError: CUDA error: uncorrectable ECC error encountered",
        "[2024-08-08 11:02:21,092] torch.distributed.elastic.multiprocessing.api: [ERROR] "
        "failed (exitcode: 1) local_rank: 5 (pid: 98) of binary: /usr/bin/python3",
    ]
    assert _verdict(lines) == ("gpu_hardware", [29], ["gpt-train-worker-2"])


def test_kubernetes_pod_prefixes_name_the_host() -> None:
    stern = parse_line("neox-20b-worker-1 pytorch [rank19]:NCCL WARN NET/OFI Request failed")
    assert (stern.rank, stern.host) == (19, "neox-20b-worker-1")
    prefixed = parse_line("[pod/bert-ddp-worker-2/pytorch] RuntimeError: boom")
    assert (prefixed.host, prefixed.content) == ("bert-ddp-worker-2", "RuntimeError: boom")
    prose = parse_line("torch-2.1 has a bug [see below]")  # two words, then no log prefix
    assert prose.host is None
    # `stern --timestamps`: the pod, the container, then a UTC timestamp before any line
    timed = parse_line("qwen-sft-master-0 pytorch 2024-06-11T22:07:00.000041258Z tee: "
                       "/ckpt/logs/train-master.log: Disk quota exceeded")
    assert (timed.host, timed.content) == ("qwen-sft-master-0",
                                           "tee: /ckpt/logs/train-master.log: Disk quota exceeded")
    assert timed.timestamp is not None


def test_a_worker_killed_silently_is_the_culprit_of_the_timeouts_after_it() -> None:
    lines = [
        *_block("Root Cause (first observed failure)", "gpu-node-12", 11, 3, -9, "SIGKILL"),
        _TIMEOUT.format(r=2), _TIMEOUT.format(r=6),
        *_block("Root Cause (first observed failure)", "gpu-node-11", 2, 2, -6, "SIGABRT"),
    ]
    v = analyze_lines(lines)
    assert (v.action.value, v.category.value) == ("RESTART", "unknown")
    assert (list(v.culprit_ranks), list(v.culprit_nodes)) == ([11], ["gpu-node-12"])
    assert "signal 9" in v.reason
    assert (v.evidence[0].rank, v.evidence[0].line) == (11, 1)  # its record comes first


def test_timeouts_whose_workers_all_aborted_stay_a_hang_without_culprit() -> None:
    lines = [
        _TIMEOUT.format(r=2), _TIMEOUT.format(r=6),
        *_block("Root Cause (first observed failure)", "gpu-node-11", 2, 2, -6, "SIGABRT"),
    ]
    assert _verdict(lines) == ("hang", [], [])


def test_the_gpu_an_oom_names_is_a_local_rank_on_a_mapped_host() -> None:
    mapping = ("worker-0: [2024-01-09 10:01:02,123] [INFO] [launch.py:163:main] "
               "global_rank_mapping=defaultdict(<class 'list'>, {'worker-0': [0, 1, 2, 3], "
               "'worker-1': [4, 5, 6, 7]})")
    oom = ("worker-1: torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate "
           "1.54 GiB (GPU {g}; 39.39 GiB total capacity; 36.1 GiB already allocated)")
    assert _verdict([mapping, oom.format(g=2)]) == ("cuda_oom", [6], ["worker-1"])
    # GPU 0 is what every worker names when it sees one GPU only: no rank from it
    assert _verdict([mapping, oom.format(g=0)]) == ("cuda_oom", [], ["worker-1"])


def test_a_local_rank_takes_the_node_rank_of_its_section_of_the_paste() -> None:
    args = ("Command Line Args: Namespace(config_file='cfg.yaml', dist_url='tcp://10.0.40.11:5015',"
            " machine_rank={m}, num_gpus=4, num_machines=2)")
    lines = [
        args.format(m=0), "iter 100 loss 2.0",
        args.format(m=1),
        "Traceback (most recent call last):",
        "torch.multiprocessing.spawn.ProcessRaisedException: ",
        "-- Process 3 terminated with the following error:",
        "Loss.cu:242: nll_loss_forward_reduce_cuda_kernel_2d: block: [0,0,0], thread: [9,0,0] "
        "Assertion `t >= 0 && t < n_classes` failed.",
    ]
    _, ranks, _ = _verdict(lines)
    assert ranks == [7]  # machine 1 x 4 GPUs + process 3, not 3


def test_srun_names_the_task_its_cgroup_killed_out_of_memory() -> None:
    lines = [
        "RuntimeError: DataLoader worker (pid 48211) is killed by signal: Killed.",
        "slurmstepd: error: Detected 1 oom_kill event in StepId=5521934.0. Some of the step "
        "tasks have been OOM Killed.",
        "srun: error: gpn-112: task 5: Out Of Memory",
        "srun: error: gpn-111: tasks 0-3: Aborted (core dumped)",
        "srun: error: gpn-112: tasks 4,6-7: Aborted (core dumped)",
    ]
    assert _verdict(lines) == ("host", [5], ["gpn-112"])
    # a peer that exited with an error after it does not hide it
    peer = "srun: error: gpn-111: task 0: Exited with exit code 1"
    assert _verdict([*lines, peer]) == ("host", [5], ["gpn-112"])


_MISMATCH = ("[rank{me}]: RuntimeError: Detected mismatch between collectives on ranks. Rank "
             "{me} is running collective: CollectiveFingerPrint(SequenceNumber=48211, OpType={op}"
             ", TensorShape=[1], TensorDtypes=Float), but Rank {other} is running collective: "
             "CollectiveFingerPrint(SequenceNumber=48211, OpType={other_op}, TensorShape=[1], "
             "TensorDtypes=Float).")


def _mismatch(me: int, other: int, odd: int) -> str:
    ops = {True: "BROADCAST", False: "ALLREDUCE"}
    return _MISMATCH.format(me=me, other=other, op=ops[me == odd], other_op=ops[other == odd])


def test_a_collective_mismatch_blames_the_rank_that_ran_another_collective() -> None:
    # every rank raises; each names the first rank that differs from it: the odd one is rank 5,
    # named by all the others, and it names rank 0
    lines = [_mismatch(r, 5, odd=5) for r in (2, 6, 0, 7)] + [_mismatch(5, 0, odd=5)]
    assert _verdict(lines) == ("user_code", [5], [])
    assert _verdict(lines[:1]) == ("user_code", [5], [])  # one line: the rank it names
    # the odd rank is 0 (a collective under `if rank == 0:`): named by the others
    zero = [_mismatch(r, 0, odd=0) for r in (2, 3)] + [_mismatch(0, 1, odd=0)]
    assert _verdict(zero) == ("user_code", [0], [])
    # one line naming rank 0 (or rank 0's naming 1) cannot tell which of the two is odd: the
    # reporter stays, as for any error; never the other rank
    assert _verdict(zero[:1]) == ("user_code", [2], [])
    assert _verdict(zero[-1:]) == ("user_code", [0], [])
    # two lines that blame each other's rank and nothing else: no way to tell
    assert _verdict([_mismatch(2, 5, odd=5), _mismatch(5, 2, odd=2)])[1] == [2, 5]
    # a sub-group's report numbers its members from 0: not global ranks
    sub = [f"[rank{8 + g}]: " + _mismatch(g, 5, odd=5).split("]: ", 1)[1] for g in (0, 1)]
    assert _verdict(sub)[1] == [8, 9]


def test_a_tee_prefix_too_big_for_a_local_rank_is_the_global_one() -> None:
    # two nodes' output, so `[defaultN]:` reads as a local rank; but no node has 28 GPUs
    lines = [
        "$ kubectl logs trainer-0",
        "[default2]:[E ProcessGroupNCCL.cpp:475] [Rank 2] Watchdog caught collective operation "
        "timeout: WorkNCCL(SeqNum=88, OpType=ALLREDUCE) ran for 1800095 milliseconds",
        *_block("Root Cause (first observed failure)", "trainer-0", 2, 2, -6, "SIGABRT"),
        "$ kubectl logs trainer-3",
        "[default27]:OSError: [Errno 5] Input/output error",
        "torch.distributed.elastic.agent.server.api: [ERROR] failed (exitcode: 1) local_rank: 3 "
        "(pid: 412) of binary: /usr/bin/python3",
    ]
    assert _verdict(lines) == ("host", [27], ["trainer-3"])
    # a node rank and a process count in the log map it, however big (a CPU node's gloo job)
    env = "PET_NODE_RANK=1 PET_NPROC_PER_NODE=32 PET_NNODES=2"
    assert _verdict([*lines[:-3], lines[-3], env, *lines[-2:]])[1] == [59]


def test_the_same_exception_on_every_rank_is_the_jobs_not_a_ranks() -> None:
    # ATTRIBUTION.md: "a Python exception on every rank with the same traceback is the code's"
    err = "ValueError: `rope_scaling` must be a dictionary with two fields, `type` and `factor`"
    every = [f"[rank{r}]: {err}" for r in range(4)]
    v = analyze_lines(every)
    assert (v.category.value, list(v.culprit_ranks), list(v.culprit_nodes)) == (
        "user_code", [], [])
    assert "the same on 4 ranks" in v.reason
    # two of four raise it and the others wait for them: those two are the culprits
    some = every[:2] + [f"[rank{r}]:{_TIMEOUT.format(r=r)}" for r in (2, 3)]
    assert _verdict(some) == ("user_code", [0, 1], [])
    # one pipeline stage's ranks, not rank 0's: not every rank
    stage = [f"[rank{r}]: {err}" for r in range(12, 16)]
    assert _verdict(stage) == ("user_code", [12, 13, 14, 15], [])
    # a launcher saw another rank fail: not every rank raised it
    assert _verdict(every[:2] + _block("Root Cause (first observed failure)", "gpu-b", 3, 3, 1,
                                       "SIGHUP"))[1] == [0, 1]
    # NCCL's init lines show an 8-rank world: four of eight is not every rank
    world = [f"gpu-{'a' if r < 4 else 'b'}:{100 + r}:{200 + r} [{r % 4}] NCCL INFO comm "
             f"0x{r:x}0 rank {r} nranks 8 cudaDev {r % 4} busId 1000 - Init COMPLETE"
             for r in range(8)]
    assert _verdict(world + every)[1] == [0, 1, 2, 3]
    # a node fault on every rank is still each rank's own
    ecc = [f"[rank{r}]: RuntimeError: CUDA error: uncorrectable ECC error encountered"
           for r in range(2)]
    assert _verdict(ecc)[1] == [0, 1]


def test_inside_ftrun_the_launchers_rank_map_shows_the_ranks_that_did_not_raise() -> None:
    a = Analyzer(node="gpu-a")
    for r in range(4):
        a.feed(f"[rank{r}]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate "
               "2.00 GiB")
    v = combine([a.digest()], 0, node_of_rank={r: "gpu-a" if r < 4 else "gpu-b"
                                               for r in range(8)})
    assert (list(v.culprit_ranks), list(v.culprit_nodes)) == ([0, 1, 2, 3], ["gpu-a"])
    v = combine([a.digest()], 0, node_of_rank={r: "gpu-a" for r in range(4)})
    assert (list(v.culprit_ranks), list(v.culprit_nodes)) == ([], [])


def _failures(codes: dict[int, int]) -> list[str]:
    lines = ["torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ", "=" * 60,
             "sft.py FAILED", "-" * 60, "Failures:"]
    for rank, code in list(codes.items())[1:]:
        lines += [f"[{rank}]:", "  time      : 2024-04-22_16:41:29", "  host      : nlp-gpu07",
                  f"  rank      : {rank} (local_rank: {rank})",
                  f"  exitcode  : {code} (pid: {2281000 + rank})", "  error_file: <N/A>",
                  "  traceback : To enable traceback see: https://pytorch.org/docs/stable/elastic/"
                  "errors.html"]
    rank, code = next(iter(codes.items()))
    lines += ["-" * 60, "Root Cause (first observed failure):", "[0]:",
              "  time      : 2024-04-22_16:41:28", "  host      : nlp-gpu07",
              f"  rank      : {rank} (local_rank: {rank})", f"  exitcode  : {code} (pid: 2281013)",
              "  error_file: <N/A>", "  traceback : To enable traceback see: https://pytorch.org/"
              "docs/stable/elastic/errors.html", "=" * 60]
    return lines


def test_a_launcher_that_saw_every_rank_exit_with_an_error_under_a_traceback_blames_none() -> None:
    key = ["Traceback (most recent call last):", "KeyError: 'messages'"]
    v = analyze_lines([*key, *_failures({4: 1, 0: 1, 1: 1, 2: 1, 3: 1, 5: 1, 6: 1, 7: -15})])
    assert (v.category.value, list(v.culprit_ranks), list(v.culprit_nodes)) == (
        "user_code", [], [])
    assert "all 7 ranks the launcher recorded exited with an error" in v.reason
    # the others were killed by the launcher (signals): the root cause's rank is the one
    assert _verdict([*key, *_failures({4: 1, 0: -15, 1: -15, 2: -15, 3: -15})])[1:] == (
        [4], ["nlp-gpu07"])
    # a consequence in the log: the others may have exited of it, not of the KeyError
    nccl = ("[rank1]: torch.distributed.DistBackendError: NCCL error: remote process exited or "
            "there was a network error")
    assert _verdict([*key, nccl, *_failures({4: 1, 0: 1, 1: 1, 2: 1})])[1] == [4]


def _composer_dumps(ranks: list[int], error: str) -> list[str]:
    lines = []
    for rank in ranks:
        lines += [f"Global rank {rank} (PID {60260 + rank}) exited with code 1",
                  f"----------Begin global rank {rank} STDERR----------",
                  "Traceback (most recent call last):", error,
                  f"----------End global rank {rank} STDERR----------"]
    return lines


def test_each_rank_the_launcher_saw_exit_with_the_same_error_of_its_own_blames_none() -> None:
    zip_error = "RuntimeError: PytorchStreamReader failed reading zip archive: failed finding " \
        "central directory"
    assert _verdict(_composer_dumps([4, 5, 6, 7], zip_error)) == ("storage", [], [])
    # two ranks that each raised it are two culprits; so are three of a world of 14 or more
    # (composer prints only the ranks that crashed)
    assert _verdict(_composer_dumps([8, 9], zip_error)) == ("storage", [8, 9], [])
    assert _verdict(_composer_dumps([8, 9, 13], zip_error)) == ("storage", [8, 9, 13], [])
    # another rank that the launcher saw exit with an error did not show it
    assert _verdict([*_composer_dumps([4, 5, 6], zip_error),
                     "Global rank 7 (PID 60271) exited with code 1"])[1] == [4, 5, 6]


_OOM = ("[1,{r}]<stderr>:torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate "
        "2.00 GiB (GPU 2; 79.15 GiB total capacity; 75.10 GiB already allocated)")
_RESET = "[1,{r}]<stderr>:NCCL WARN Net : Connection closed by remote peer"


def test_an_mpirun_hostfile_places_ranks_by_slot_where_the_log_confirms_it() -> None:
    hostfile = ["$ cat hosts", "gpu-c01 slots=4", "gpu-c02 slots=4", "gpu-c03 slots=4 max_slots=4"]
    run = [_OOM.format(r=6), _RESET.format(r=9)]
    # rank 9's own line on gpu-c03, where slot order puts it: the order holds
    seen = "[1,9]<stderr>:gpu-c03:41233:41401 [1] NCCL INFO comm 0x55d0 rank 9 nranks 12 " \
        "cudaDev 1 busId 5d000 - Init COMPLETE"
    assert _verdict([*hostfile, seen, *run]) == ("cuda_oom", [6], ["gpu-c02"])
    # nothing confirms it (`--map-by node`, `-npernode` may be in force): no node
    assert _verdict([*hostfile, *run]) == ("cuda_oom", [6], [])
    # a line contradicts it: no node from the hostfile, the line's own host for its rank
    own = seen.replace("gpu-c03", "gpu-c01")
    assert _verdict([*hostfile, own, *run]) == ("cuda_oom", [6], [])
    assert _verdict([*hostfile, own, _OOM.format(r=9)]) == ("cuda_oom", [9], ["gpu-c01"])
    # a one-node hostfile names no node
    assert _verdict(["localhost slots=8", seen.replace("gpu-c03", "localhost"),
                     _OOM.format(r=6)]) == ("cuda_oom", [6], [])
    # mpirun's own command line maps by slot (n per node on hosts of n slots): it holds
    mpirun = "mpirun -np 12 --hostfile hosts {} --bind-to none --tag-output python train.py"
    for mapping in ("--map-by ppr:4:node", "--map-by slot", "-npernode 4"):
        assert _verdict([mpirun.format(mapping), *hostfile, *run]) == ("cuda_oom", [6], ["gpu-c02"])
    for mapping in ("--map-by node", "--map-by ppr:2:node"):
        assert _verdict([mpirun.format(mapping), *hostfile, *run]) == ("cuda_oom", [6], [])


def test_open_mpis_display_map_places_each_process_it_lists() -> None:
    table = [" ========================   JOB MAP   ========================", ""]
    for host, ranks in (("cn-0425", (0, 2)), ("cn-0427", (1, 3))):  # --map-by node
        table.append(f" Data for node: {host}\tNum slots: 8\tMax slots: 0\tNum procs: 2")
        table += [f" \tProcess OMPI jobid: [40711,1] App: 0 Process rank: {r} Bound: N/A"
                  for r in ranks]
    assert _verdict([*table, _OOM.format(r=2), _RESET.format(r=1)]) == (
        "cuda_oom", [2], ["cn-0425"])


def test_deepspeeds_own_rank_mapping_beats_its_hostfile() -> None:
    lines = [
        "dgx-07 slots=8", "dgx-02 slots=8",
        "[INFO] [launch.py:163:main] global_rank_mapping=defaultdict(<class 'list'>, "
        "{'dgx-02': [0, 1, 2, 3, 4, 5, 6, 7], 'dgx-07': [8, 9, 10, 11, 12, 13, 14, 15]})",
        _OOM.format(r=13),
    ]
    assert _verdict(lines) == ("cuda_oom", [13], ["dgx-07"])
    # a one-node run's mapping names `localhost`: no node
    lines[2] = "global_rank_mapping=defaultdict(<class 'list'>, {'localhost': [0, 1, 2, 3]})"
    assert _verdict([_OOM.format(r=3)]) == _verdict([*lines[2:3], _OOM.format(r=3)]) == (
        "cuda_oom", [3], [])


_MPIRUN_FIRST = [
    "Primary job  terminated normally, but 1 process returned",
    "a non-zero exit code. Per user-direction, the job has been aborted.",
    "mpirun detected that one or more processes exited with non-zero status, thus causing",
    "the job to be terminated. The first process to do so was:",
    "",
    "  Process name: [[41827,1],{r}]",
    "  Exit code:    1",
]
_OFI = ("[1,mpirank:{r},algo-3]<stderr>:algo-3:382:1291 [2] NCCL WARN NET/OFI Request "
        "0x7f2c6c0a1e80 completed with error. RC: 21. Error: 110 (Connection timed out).")
_PEER = ("[1,mpirank:{r},algo-1]<stderr>:[E ProcessGroupNCCL.cpp:828] [Rank {r}] NCCL watchdog "
         "thread terminated with exception: NCCL error: remote process exited or there was a "
         "network error, NCCL version 2.16.2")


def test_mpiruns_first_failed_process_is_a_launcher_record() -> None:
    first = [line.format(r=18) for line in _MPIRUN_FIRST]
    # the only rank with a network fault of its own, and the one mpirun saw fail first
    assert _verdict([_OFI.format(r=18), _PEER.format(r=2), *first]) == (
        "network", [18], ["algo-3"])
    assert _verdict([_OFI.format(r=18), _PEER.format(r=2)]) == ("network", [], [])
    # nothing matched: mpirun's record is the culprit
    assert _verdict(["training stopped", *first])[1] == [18]
    killed = "mpirun noticed that process rank 5 with PID 7712 on node gpu-c02 exited on " \
        "signal 9 (Killed)."
    assert _verdict(["training stopped", killed]) == ("unknown", [5], ["gpu-c02"])


def test_a_network_root_of_one_rank_does_not_blame_another_that_failed_first() -> None:
    """Rank 21 reported the fault first; rank 0, which mpirun saw exit first, repeats it in its
    watchdog's `Last error:`: not rank 0 (on another node than the root's, too)."""
    echo = "[1,mpirank:0,algo-1]<stderr>:NET/OFI Request completed with error"
    lines = [_OFI.format(r=21), _PEER.format(r=0), echo, *(x.format(r=0) for x in _MPIRUN_FIRST)]
    assert _verdict(lines)[1] == []


def _composer_exits(first: int, code: int, others: range, other_code: int) -> list[str]:
    return [f"ERROR:composer.cli.launcher:Global rank {first} (PID {5000 + first}) exited with "
            f"code {code}",
            *(f"Global rank {r} (PID {5000 + r}) exited with code {other_code}"
              for r in others if r != first)]


def test_composers_launcher_names_the_rank_that_exited_with_an_error() -> None:
    oom = "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."
    assert _verdict([oom, *_composer_exits(13, 1, range(16), -15)])[:2] == ("cuda_oom", [13])
    assert _verdict([oom])[:2] == ("cuda_oom", [])
    # every rank raised the NaN (an all-reduced loss): the job's, no rank's
    nan = "RuntimeError: loss is nan at batch 6389, aborting"
    assert _verdict([nan, *_composer_exits(0, 1, range(8), 1)])[:2] == ("numerical", [])


def test_composers_batches_and_uploaded_checkpoints_are_progress() -> None:
    """A NaN, then a resume that trained on and uploaded checkpoints, then the NaN again: a
    checkpoint since the previous failure (RESTART), not the same root without progress."""
    nan = "{t},311: rank0[40122][MainThread]: ERROR: nan_guard: non-finite loss detected " \
        "at batch {b}\nRuntimeError: loss is nan at batch {b}, aborting"
    run = [nan.format(t="2024-02-29 23:51:07", b=4217)]
    run += [f"[batch={b}/48000]:" for b in range(4100, 6400, 100)]
    run.append("2024-03-01 09:02:28,673: rank0[5118][MainThread]: INFO: composer.callbacks."
               "checkpoint_saver: Uploading checkpoint to s3://ckpts/run7b/ep0-ba6000-rank0.pt")
    run.append(nan.format(t="2024-03-01 09:15:44", b=6389))
    v = analyze_lines("\n".join(run).splitlines())
    assert (v.action.value, v.category.value) == ("RESTART", "numerical")
    assert "checkpoint was saved" in v.reason


def test_mpiruns_rank_is_a_node_index_when_it_started_torchrun_per_node() -> None:
    ecc = "RuntimeError: CUDA error: uncorrectable ECC error encountered"
    first = [line.format(r=1) for line in _MPIRUN_FIRST]
    assert _verdict([ecc, *first])[:2] == ("gpu_hardware", [1])
    # torchrun's agents under mpirun: MPI rank 1 is node 1, not worker 1
    timeout = "[default0]:[E ProcessGroupNCCL.cpp:616] [Rank 0] Watchdog caught collective " \
        "operation timeout: WorkNCCL(SeqNum=9, OpType=ALLREDUCE) ran for 600000 milliseconds"
    assert _verdict([ecc, timeout, *first])[:2] == ("gpu_hardware", [])

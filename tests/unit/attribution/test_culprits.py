"""Where culprits come from when the root line itself names no rank or node: launchers' failure
records (torchelastic's summary, srun, DeepSpeed), pid -> rank tables (NCCL prefixes behind a
rank prefix, Ray Train's worker table) and a collector's `[host] ` prefix."""

from __future__ import annotations

from resilience.attribution import DEFAULT_POLICY, Analyzer, analyze_lines, combine

from .conftest import ray_table

_SUMMARY = """\
============================================================
train.py FAILED
------------------------------------------------------------
Failures:
[1]:
  time      : 2023-12-19_06:11:40
  host      : gpu-st-14
  rank      : 13 (local_rank: 5)
  exitcode  : -6 (pid: 55124)
  error_file: <N/A>
  traceback : Signal 6 (SIGABRT) received by PID 55124
------------------------------------------------------------
Root Cause (first observed failure):
[0]:
  time      : 2023-12-19_06:11:40
  host      : gpu-st-14
  rank      : 12 (local_rank: 4)
  exitcode  : -6 (pid: 55123)
  error_file: <N/A>
  traceback : Signal 6 (SIGABRT) received by PID 55123
============================================================
""".splitlines()


def _culprits(lines: list[str]) -> tuple[str, list[int], list[str]]:
    v = analyze_lines(lines)
    return v.category.value, list(v.culprit_ranks), list(v.culprit_nodes)


def test_torchelastic_failures_list_and_root_cause_are_both_read() -> None:
    a = Analyzer()
    a.feed_bytes(("\n".join(_SUMMARY) + "\n").encode())
    got = [(e.source, e.rank, e.local_rank, e.host, e.line) for e in a.digest().elastic_roots]
    assert got == [("failure", 13, 5, "gpu-st-14", 4), ("root_cause", 12, 4, "gpu-st-14", 13)]
    # nothing else in the log: the root cause (not the failure listed first) is the culprit
    assert _culprits(_SUMMARY) == ("unknown", [12], ["gpu-st-14"])


def test_torchelastic_summary_fed_in_small_chunks_reads_the_same() -> None:
    data = ("step 10\n" + "\n".join(_SUMMARY) + "\nstep 11\n").encode()
    whole, pieces = Analyzer(), Analyzer()
    whole.feed_bytes(data)
    for i in range(0, len(data), 7):
        pieces.feed_bytes(data[i:i + 7])
    assert pieces.digest().elastic_roots == whole.digest().elastic_roots
    assert len(whole.digest().elastic_roots) == 2


def test_the_earliest_torchelastic_failure_names_the_rank_of_an_unprefixed_root() -> None:
    node1 = [*_SUMMARY[:4], "  <NO_OTHER_FAILURES>", *_SUMMARY[11:]]
    node1 = [line.replace("06:11:40", "06:11:47").replace("gpu-st-14", "gpu-st-15")
             .replace(": 12 (", ": 9 (") for line in node1]
    node0 = [line.replace("gpu-st-14", "gpu-st-16") for line in _SUMMARY[11:]]
    lines = [*node1, "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 7.81 GiB",
             *node0]
    assert _culprits(lines) == ("cuda_oom", [12], ["gpu-st-16"])


def test_one_srun_task_that_exited_by_itself_names_an_unprefixed_root() -> None:
    assert _culprits([
        "OSError: [Errno 5] Input/output error",
        "srun: error: gpu-a-042: task 13: Exited with exit code 1",
        "srun: error: gpu-a-041: tasks 0-7: Terminated",
        "srun: error: gpu-a-042: tasks 8-12,14-15: Terminated",
    ]) == ("host", [13], ["gpu-a-042"])
    # two tasks exited by themselves: srun does not say which was first
    assert _culprits([
        "OSError: [Errno 5] Input/output error",
        "srun: error: gpu-a-042: task 13: Exited with exit code 1",
        "srun: error: gpu-a-041: task 2: Exited with exit code 1",
    ])[1] == []


def test_ranks_sharing_a_failed_hca_narrow_to_those_the_launcher_saw_fail() -> None:
    event = "NCCL WARN NET/IB : mlx5_5:1 Got async event : local catastrophic error"
    lines = [f"13: gpu-h100-031:1187442:1188021 [5] {event}",
             f"11: gpu-h100-031:1187440:1188030 [3] {event}",
             "srun: error: gpu-h100-031: task 13: Exited with exit code 1",
             "srun: error: gpu-h100-031: tasks 8-12,14-15: Terminated"]
    assert _culprits(lines) == ("network", [13], ["gpu-h100-031"])
    # without the launcher's word both stay culprits
    assert _culprits(lines[:2]) == ("network", [11, 13], ["gpu-h100-031"])


def test_an_xid_pid_names_the_rank_whose_nccl_lines_carry_that_pid() -> None:
    assert _culprits([
        "9: gpu-a100-017:2219034:2219034 [1] enqueue.cc:1230 NCCL WARN Cuda failure "
        "'unknown error'",
        "11: gpu-a100-017:2219036:2219036 [3] enqueue.cc:1230 NCCL WARN Cuda failure "
        "'unknown error'",
        "Mar 18 05:51:44 gpu-a100-017 kernel: NVRM: Xid (PCI:0000:47:00): 79, pid=2219034, "
        "name=python, GPU has fallen off the bus.",
    ]) == ("gpu_hardware", [9], ["gpu-a100-017"])


def test_ray_trains_worker_table_names_the_rank_of_a_worker_pid() -> None:
    table = ray_table("TorchTrainer pid=2790, ip=10.0.4.21", ["10.0.4.21", "10.0.4.37"],
                      [*range(2871, 2875), *range(1956, 1960)])
    assert _culprits([
        *table,
        "ray.exceptions.RayTaskError(OutOfMemoryError): ray::_Inner.train() (pid=2790, "
        "ip=10.0.4.21, actor_id=9e7a, repr=TorchTrainer)",
        "ray.exceptions.RayTaskError(OutOfMemoryError): ray::_RayTrainWorker__execute.get_next() "
        "(pid=1957, ip=10.0.4.37, actor_id=1f5c)",
        "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.13 GiB.",
    ]) == ("cuda_oom", [5], ["10.0.4.37"])  # the table's IP of rank 5


def test_an_xid_in_an_ec2_nodes_dmesg_is_the_gpu_of_the_ray_worker_there_with_a_cuda_error(
) -> None:
    # Ray names the node by its IP, dmesg's prompt by EC2's name that spells it
    table = ray_table("TorchTrainer pid=4412", ["10.0.3.17", "10.0.3.44"], range(9920, 9928))
    assert _culprits([
        *table,
        "(RayTrainWorker pid=9925, ip=10.0.3.44)   what():  CUDA error: unspecified launch "
        "failure",
        "[ec2-user@ip-10-0-3-44 ~]$ sudo dmesg -T | tail -n 3",
        "[Thu May  2 10:48:09 2024] NVRM: Xid (PCI:0000:00:1c): 79, pid='<unknown>', "
        "name=<unknown>, GPU has fallen off the bus.",
    ]) == ("gpu_hardware", [5], ["ip-10-0-3-44"])


def test_a_ray_workers_process_group_line_names_the_rank_of_its_pid() -> None:
    setup = [f"(RayTrainWorker pid={33867 + r}, ip=10.30.8.2{1 + r // 4}) Setting up process "
             f"group for: env:// [rank={r}, world_size=8]" for r in range(8)]
    raised = ["ray.exceptions.RayTaskError(RuntimeError): ray::_RayTrainWorker__execute.get_next("
              ") (pid=33873, ip=10.30.8.22, actor_id=c0d9, repr=<RayTrainWorker>)",
              "RuntimeError: The size of tensor a (3001) must match the size of tensor b (3000) "
              "at non-singleton dimension 1"]
    assert _culprits([*setup, *raised]) == ("user_code", [6], ["10.30.8.22"])
    assert _culprits(raised) == ("user_code", [], ["10.30.8.22"])


def test_deepspeed_names_the_node_and_its_spawn_lines_the_rank() -> None:
    mapping = ("gpu-node-02: [2024-05-10 12:01:44,102] [INFO] [launch.py:163:main] "
               "global_rank_mapping=defaultdict(<class 'list'>, {'gpu-node-01': [0, 1, 2, 3, 4, "
               "5, 6, 7], 'gpu-node-02': [8, 9, 10, 11, 12, 13, 14, 15]})")
    spawned = [f"gpu-node-02: [2024-05-10 12:01:44,200] [INFO] [launch.py:256:main] process "
               f"{40200 + r} spawned with command: ['/usr/bin/python3', '-u', 'train.py', "
               f"'--local_rank={r}', '--bf16']" for r in range(8)]
    oom = ("gpu-node-02: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. "
           "GPU 3 has a total capacity of 79.15 GiB of which 1.2 GiB is free. Process 40203 has "
           "77.9 GiB memory in use.")
    # the exit line prints the launcher's last spawned command (`--local_rank=7`), whichever
    # worker failed: it names the node only
    exit_line = ("gpu-node-02: [2024-05-10 14:33:29,311] [ERROR] [launch.py:325:sigkill_handler] "
                 "['/usr/bin/python3', '-u', 'train.py', '--local_rank=7', '--bf16'] exits with "
                 "return code = 1")
    reset = ("gpu-node-01: gpu-node-01:51208:51877 [2] misc/socket.cc:538 NCCL WARN "
             "socketProgressOpt: Call to recv from 10.0.3.12<40122> failed : Connection reset by "
             "peer")
    assert _culprits([mapping, *spawned, oom, reset, exit_line]) == (
        "cuda_oom", [11], ["gpu-node-02"])
    assert _culprits(["gpu-node-02: IndexError: list index out of range", reset, mapping,
                      exit_line]) == ("user_code", [], ["gpu-node-02"])
    # no spawn lines: the GPU the OOM names is the local rank (torch 2.1 spells "capacty")
    oom = oom.replace("Process 40203", "Process 7").replace("GPU 3", "GPU 5")
    assert _culprits([mapping, oom.replace("capacity", "capacty"), reset, exit_line]) == \
        _culprits([mapping, oom, reset, exit_line]) == ("cuda_oom", [13], ["gpu-node-02"])


def test_a_collectors_host_prefix_and_the_one_rank_with_that_fault_on_the_node() -> None:
    assert _culprits([
        "[cn-gpu-19] ERROR: Unexpected bus error encountered in worker. This might be caused by "
        "insufficient shared memory (shm).",
        "[cn-gpu-19] [rank22]: RuntimeError: DataLoader worker (pid 2871123) is killed by "
        "signal: Bus error. It is possible that dataloader's workers are out of shared memory.",
        "[cn-gpu-07] [rank3]: [E ProcessGroupNCCL.cpp:1537] [PG 0 Rank 3] Watchdog caught "
        "collective operation timeout: WorkNCCL(SeqNum=9, OpType=ALLREDUCE) ran for 600003 ms",
    ]) == ("host", [22], ["cn-gpu-19"])


def test_a_pid_on_another_nodes_digest_names_the_rank() -> None:
    # inside ftrun: the worker's stream and the node's kernel log are separate digests
    worker, kernel = Analyzer(node="gpu-a100-017"), Analyzer(node="gpu-a100-017")
    worker.feed("9: gpu-a100-017:2219034:2219034 [1] enqueue.cc:1230 NCCL WARN Cuda failure "
                "'unknown error'")
    worker.feed("11: gpu-a100-017:2219036:2219036 [3] enqueue.cc:1230 NCCL WARN Cuda failure "
                "'unknown error'")
    kernel.feed("Mar 18 05:51:44 gpu-a100-017 kernel: NVRM: Xid (PCI:0000:47:00): 79, "
                "pid=2219034, name=python, GPU has fallen off the bus.")
    v = combine([worker.digest(), kernel.digest()], 0, DEFAULT_POLICY)
    assert (v.category.value, list(v.culprit_ranks)) == ("gpu_hardware", [9])


def test_a_time_limit_is_the_jobs_not_a_ranks() -> None:
    assert _culprits([
        "0: [rank0]: step 9000 loss 2.1",
        "slurmstepd: error: *** JOB 881234 ON gpu-a-14 CANCELLED AT 2024-03-01T02:11:09 DUE TO "
        "TIME LIMIT ***",
        "[rank0]: torch.distributed.elastic.multiprocessing.api.SignalException: Process 4412 got "
        "signal: 15",
    ]) == ("scheduler", [], [])


def test_culprit_ranks_get_the_nodes_other_lines_pair_them_with() -> None:
    assert _culprits([
        "13: RuntimeError: CUDA error: unknown error",
        "srun: error: gpu044: task 13: Exited with exit code 1",
        "[Tue Feb 13 02:41:06 2024] NVRM: Xid (PCI:0000:41:00): 79, pid='<unknown>', "
        "name=<unknown>, GPU has fallen off the bus.",
    ]) == ("gpu_hardware", [13], ["gpu044"])


def test_nccls_init_lines_of_the_world_communicator_pair_pid_host_and_rank() -> None:
    init = "NCCL INFO comm 0x55d1 rank {} nranks {} cudaDev 5 nvmlDev 5 busId ab000 - Init COMPLETE"
    lines = [
        f"hgx-b07:48213:48400 [5] {init.format(13, 16)}",
        f"hgx-b07:48213:48401 [5] {init.format(5, 8)}",  # a sub-communicator: not global
        f"hgx-b06:77310:77400 [5] {init.format(5, 16)}",
        "[rank13]: RuntimeError: CUDA error: unspecified launch failure",
        "hgx-b07: [Fri Mar  8 11:02:33 2024] NVRM: Xid (PCI:0000:b8:00): 74, pid=48213, "
        "name=python, NVLink: fatal error detected on link 3",
    ]
    assert _culprits(lines) == ("gpu_hardware", [13], ["hgx-b07"])
    a = Analyzer()
    for line in lines:
        a.feed(line)
    d = a.digest()
    assert (d.pid_ranks, d.rank_hosts) == ({48213: 13, 77310: 5}, {13: "hgx-b07", 5: "hgx-b06"})


def test_mp_spawn_names_the_process_that_raised() -> None:
    assert _culprits([
        "torch.multiprocessing.spawn.ProcessRaisedException: ",
        "",
        "-- Process 2 terminated with the following error:",
        "Traceback (most recent call last):",
        "RuntimeError: CUDA out of memory. Tried to allocate 1.53 GiB (GPU 2; 23.69 GiB total)",
    ]) == ("cuda_oom", [2], [])


def test_a_link_fault_with_nothing_initiating_is_the_rank_that_reported_it_and_died() -> None:
    lines = [
        "40: gpu-c0-21:190221:190400 [0] transport/net_ib.cc:1295 NCCL WARN NET/IB : Got "
        "completion from peer 10.12.1.22<41234> with status=12 opcode=0 len=0 vendor err 129",
        "48: gpu-c0-22:77120:77300 [0] transport/net_ib.cc:1295 NCCL WARN NET/IB : Got "
        "completion from peer 10.12.1.21<41234> with status=5 opcode=0 len=0 vendor err 249",
        "srun: error: gpu-c0-21: task 40: Exited with exit code 1",
        "srun: error: gpu-c0-22: tasks 48-55: Terminated",
    ]
    assert _culprits(lines) == ("network", [40], ["gpu-c0-21"])
    # the reporter says its peer's process died: not its link; torchelastic's first failure
    peer = ["[rank3]: [PG 0 Rank 3] Process group watchdog thread terminated with exception: "
            "NCCL error: remote process exited or there was a network error",
            "srun: error: gpu-b2-06: task 3: Exited with exit code 1", *_SUMMARY[11:]]
    assert _culprits(peer) == ("network", [12], ["gpu-st-14"])


def test_several_launcher_exits_the_one_with_an_error_code_came_first() -> None:
    assert _culprits([
        "Traceback (most recent call last):",
        "ValueError: bad sample",
        "srun: error: node-2: task 5: Aborted (core dumped)",
        "srun: error: node-1: task 3: Exited with exit code 1",
    ]) == ("user_code", [3], ["node-1"])


def test_pdsh_hosts_before_dotted_exceptions_and_nccl_prefixes_and_sagemaker_mpi_tags() -> None:
    from resilience.attribution.lines import parse_line

    assert parse_line("gpu-a100-03: torch.cuda.OutOfMemoryError: CUDA out").host == "gpu-a100-03"
    info = parse_line("gpu-node-01: gpu-node-01:51208:51877 [2] NCCL WARN x")
    assert (info.host, info.pid) == ("gpu-node-01", 51208)
    info = parse_line("[1,mpirank:13,algo-2]<stderr>:OSError: [Errno 5] Input/output error")
    assert (info.rank, info.host) == (13, "algo-2")
    assert info.content == "OSError: [Errno 5] Input/output error"
    assert parse_line("python3: can't open file 'x.py'").host is None


def test_srun_tasks_of_one_launcher_per_node_are_nodes_not_ranks() -> None:
    lines = [
        "0: [rank3]: step 120 loss 2.0",
        "1: [rank13]: RuntimeError: CUDA error: device-side assert triggered",
        "1: Traceback (most recent call last):",
        "0: [rank2]: [PG 0 Rank 2] Process group watchdog thread terminated with exception: "
        "NCCL error: remote process exited or there was a network error",
        "srun: error: gpu-r07n2: task 1: Exited with exit code 1",
        "srun: error: gpu-r07n1: task 0: Exited with exit code 1",
    ]
    assert _culprits(lines) == ("user_code", [13], ["gpu-r07n2"])
    a = Analyzer()
    for line in lines:
        a.feed(line)
    d = a.digest()
    assert 1 not in d.rank_hosts and {e.rank for e in d.elastic_roots} == {None}


def test_torchelastic_agent_lines_map_a_local_rank_and_its_pid() -> None:
    lines = [
        "INFO:torch.distributed.elastic.agent.server.api:[default] Rendezvous complete for "
        "workers. Result:",
        "  restart_count=0",
        "  local_ranks=[0, 1, 2, 3, 4, 5, 6, 7]",
        "  global_ranks=[8, 9, 10, 11, 12, 13, 14, 15]",
        "[default5]:NCCL WARN Cuda failure 'uncorrectable NVLink error was detected during the "
        "execution'",
        "ERROR:torch.distributed.elastic.multiprocessing.api:failed (exitcode: -6) local_rank: 5 "
        "(pid: 24411) of binary: /usr/bin/python",
        "Mar 03 10:46:17 nd96-node-1 kernel: NVRM: Xid (PCI:0000:cb:00): 74, pid=24411, NVLink: "
        "fatal error detected on link 2",
    ]
    assert _culprits(lines) == ("gpu_hardware", [13], ["nd96-node-1"])
    # two nodes' agents in one log: a local rank alone no longer says which global one
    other = [line.replace("[8, 9, 10, 11, 12, 13, 14, 15]", "[0, 1, 2, 3, 4, 5, 6, 7]")
             for line in lines[:4]]
    assert _culprits([*other, *lines])[1] == []
    # ... unless they are pasted one after the other: node 0's agent and a worker's line, then
    # node 1's agent and its lines (each local rank is in the section of the agent above it)
    timeout = "[default5]:[E ProcessGroupNCCL.cpp:821] [Rank 5] Watchdog caught collective " \
        "operation timeout: WorkNCCL(SeqNum=9, OpType=ALLREDUCE) ran for 1800000 milliseconds"
    assert _culprits([*other, timeout, *lines])[1] == [13]


def test_ray_names_the_worker_whose_task_raised() -> None:
    table = ray_table("TorchTrainer pid=8812", ["10.0.3.12", "10.0.3.17"], range(8907, 8911))
    assert _culprits([
        *table,
        "ray.exceptions.RayTaskError(TypeError): ray::_Inner.train() (pid=8812, ip=10.0.3.12, "
        "actor_id=6bd1, repr=TorchTrainer)",
        "ray.exceptions.RayTaskError(TypeError): ray::_RayTrainWorker__execute.get_next() "
        "(pid=8910, ip=10.0.3.17, actor_id=f0e4, repr=<RayTrainWorker object at 0x7f>)",
        "TypeError: default_collate: batch must contain tensors; found <class 'NoneType'>",
    ]) == ("user_code", [3], ["10.0.3.17"])


def test_an_indented_paste_keeps_its_prefixes_and_the_one_host_with_an_xid() -> None:
    assert _culprits([
        "Hi, our job died again, log below:",
        "    [rank6]: RuntimeError: CUDA error: uncorrectable ECC error encountered",
        "    [rank1]: [PG 0 Rank 1] Process group watchdog thread terminated with exception: "
        "NCCL error: remote process exited or there was a network error",
        "    Oct 15 02:51:08 g0412 kernel: NVRM: Xid (PCI:0000:41:00): 48, pid=90412, "
        "name=python, An uncorrectable double bit error (DBE) has been detected on GPU",
    ]) == ("gpu_hardware", [6], ["g0412"])


def test_a_pasted_kubectl_logs_names_the_pod_of_the_lines_after_it() -> None:
    lines = [
        "$ kubectl logs gpt-train-master-0 | tail -3",
        "[rank0]: [PG 0 Rank 0] Process group watchdog thread terminated with exception: NCCL "
        "error: remote process exited or there was a network error",
        "$ kubectl logs --previous gpt-train-worker-2",
        "[rank29]: RuntimeError: CUDA error: uncorrectable ECC error encountered",
    ]
    assert _culprits(lines) == ("gpu_hardware", [29], ["gpt-train-worker-2"])
    inside = Analyzer(node="node-7")  # inside ftrun the launcher's node is the truth
    for line in lines:
        inside.feed(line)
    assert {c.node for c in inside.digest().candidates} == {"node-7"}


def _root_cause(time: str, host: str, rank: int, code: int) -> list[str]:
    return ["Root Cause (first observed failure):", "[0]:", f"  time      : {time}",
            f"  host      : {host}", f"  rank      : {rank} (local_rank: {rank % 8})",
            f"  exitcode  : {code} (pid: {100 + rank})", "=" * 60]


def test_a_link_fault_reporter_is_not_blamed_if_torchelastic_saw_another_rank_fail_first() -> None:
    assert _culprits([
        "[rank3]: node-a:11:12 [3] NCCL WARN NET/IB : Got completion from peer 10.0.0.2<1> with "
        "status=12 opcode=0 len=0 vendor err 129",
        *_root_cause("2024-01-01_10:00:30", "node-a", 3, 1),
        *_root_cause("2024-01-01_10:00:05", "node-b", 9, -9),
    ])[1:] == ([], [])


def test_under_one_torchrun_per_srun_task_a_task_names_a_node_not_a_rank() -> None:
    lines = ["1: [default3]:RuntimeError: CUDA error: uncorrectable ECC error encountered",
             "0: [default2]:[PG 0 Rank 2] Process group watchdog thread terminated with "
             "exception: NCCL error: remote process exited or there was a network error",
             "srun: error: node-b: task 1: Exited with exit code 1",
             "srun: error: node-a: task 0: Exited with exit code 1"]
    assert _culprits(lines) == ("gpu_hardware", [], ["node-b"])  # local rank 3 of node 1
    # a line of rank 2 under task 0: tasks are nodes, task 2 is not rank 2
    assert _culprits(["0: [rank2]: ValueError: bad sample",
                      "srun: error: node-c: task 2: Exited with exit code 1"])[1:] == ([2], [])


def test_a_pid_paired_with_a_rank_on_another_host_names_no_rank() -> None:
    assert _culprits([
        "hgx-b07:48213:48400 [5] NCCL INFO comm 0x55d1 rank 13 nranks 16 cudaDev 5",
        "Mar  8 11:02:33 hgx-b06 kernel: NVRM: Xid (PCI:0000:b8:00): 79, pid=48213, "
        "name=python, GPU has fallen off the bus.",
    ]) == ("gpu_hardware", [], ["hgx-b06"])


def test_two_tasks_that_exited_by_themselves_name_no_culprit_however_many_others_aborted() -> None:
    lines = ["ValueError: bad sample", "srun: error: n1: task 3: Exited with exit code 1"]
    lines += [f"srun: error: n2: task {t}: Aborted (core dumped)" for t in range(9, 20)]
    lines += ["srun: error: n3: task 27: Exited with exit code 1"]
    assert _culprits(lines)[1:] == ([], [])


def test_launcher_records_are_in_line_order_whatever_the_batching() -> None:
    data = "\n".join([*_root_cause("2024-01-01_10:00:05", "gpu-st-14", 12, 1),
                      "srun: error: gpu-st-14: task 12: Exited with exit code 1",
                      *["x" * 100] * 50]) + "\n"
    whole, lines = Analyzer(), Analyzer(batch_lines=1)
    whole.feed_bytes(data.encode())
    for line in data.splitlines():
        lines.feed(line)
    assert lines.digests() == whole.digests()
    assert [e.source for e in whole.digest().elastic_roots] == ["root_cause", "srun"]


def test_a_kubectl_command_line_names_one_pod_or_none() -> None:
    from resilience.attribution.paste import kubectl_pod

    assert kubectl_pod("$ kubectl logs -n training gpt-train-worker-2") == "gpt-train-worker-2"
    assert kubectl_pod("kubectl logs -f --tail 200 trainer-worker-3") == "trainer-worker-3"
    assert kubectl_pod("$ kubectl logs --previous pod/w-1 --tail=4 | tail") == "w-1"
    for line in ("$ kubectl logs -l job-name=gpt", "run kubectl logs on the pod",
                 "$ kubectl logs job/gpt"):
        assert kubectl_pod(line) is None, line


def test_a_bracketed_label_is_not_a_host() -> None:
    from resilience.attribution.lines import parse_line

    assert parse_line("[iter4200] RuntimeError: CUDA error: unknown error").host is None
    assert parse_line("[cn-gpu-19] RuntimeError: x").host == "cn-gpu-19"


def test_a_launcher_command_line_gives_a_nodes_first_global_rank() -> None:
    # srun starts one torchrun per node and echoes its command line under its task id
    lines = [f"{t}: node gpu-r-0{4 + t} -> torchrun --nnodes=4 --node_rank={t} "
             "--nproc_per_node=8 --master_addr=gpu-r-04 --tee 3 train.py" for t in range(4)]
    lines += ["2: [default3]:OSError: [Errno 5] Input/output error: '/scratch/shard-0042.bin'",
              "srun: error: gpu-r-06: task 2: Exited with exit code 1"]
    assert _culprits(lines) == ("host", [19], ["gpu-r-06"])
    # detectron2's arguments and mp.spawn's process index
    assert _culprits([
        "Command Line Args: Namespace(config_file='mask_rcnn.yaml', machine_rank=1, num_gpus=8, "
        "num_machines=2)",
        "-- Process 3 terminated with the following error:",
        "ValueError: Failed to use mask_format=='polygon'",
    ]) == ("user_code", [11], [])


def test_an_srun_task_range_counts_when_telling_tasks_from_ranks() -> None:
    lines = ["[rank5]:[E ProcessGroupNCCL.cpp:563] [Rank 5] Watchdog caught collective operation "
             "timeout: WorkNCCL(SeqNum=3247, OpType=ALLREDUCE) ran for 1800219 milliseconds",
             "AttributeError: 'TensorBoardLogger' object has no attribute 'log_table'",
             "srun: error: gpu-k-14: task 0: Exited with exit code 1",
             "srun: error: gpu-k-15: tasks 4-7: Aborted (core dumped)"]
    assert _culprits(lines) == ("user_code", [0], ["gpu-k-14"])


def test_nccl_prefixed_lines_of_two_ranks_stay_two_and_megatron_names_its_rank() -> None:
    init = "NCCL INFO comm 0x55d1 rank {} nranks 64 cudaDev {} nvmlDev {} - Init COMPLETE"
    warn = "enqueue.cc:1230 NCCL WARN Cuda failure 'uncorrectable NVLink error was detected'"
    assert _culprits([
        f"dgx-a100-05:1183224:1183400 [4] {init.format(28, 4, 4)}",
        f"dgx-a100-05:1183225:1183401 [5] {init.format(29, 5, 5)}",
        f"dgx-a100-05:1183224:1183500 [4] {warn}",
        f"dgx-a100-05:1183225:1183501 [5] {warn}",
    ]) == ("gpu_hardware", [28, 29], ["dgx-a100-05"])
    v = analyze_lines(["AssertionError: Rank 15: found NaN in local grad norm in backward pass "
                       "before data-parallel communication collective"])
    assert (v.category.value, list(v.culprit_ranks)) == ("numerical", [15])


def test_a_pid_takes_its_world_rank_even_when_a_sub_group_was_set_up_first() -> None:
    comm = "NCCL INFO comm 0x55d1 rank {} nranks {} cudaDev 6 nvmlDev 6 - Init COMPLETE"
    assert _culprits([
        f"node-b:4242:4300 [6] {comm.format(2, 4)}",  # a tensor-parallel group of 4
        "node-b: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. "
        "Process 4242 has 77.9 GiB memory in use.",
        f"node-b:4242:4301 [6] {comm.format(14, 16)}",  # the world, set up later
    ]) == ("cuda_oom", [14], ["node-b"])


def test_a_watchdog_that_died_of_its_own_gpus_unknown_error_is_that_ranks_gpu() -> None:
    """`watchdog thread terminated with exception: CUDA error: unknown error` is the rank's
    GPU failing (Xid 79 in dmesg), not a wait on a peer: the one rank the Xid belongs to."""
    assert _culprits([
        "21: gpu-b07:1184211:1184800 [5] NCCL INFO comm 0x55d1c8a059be rank 21 nranks 32 "
        "cudaDev 5 busId ab000 commId 0x9a3c1f27b0e4d511 - Init COMPLETE",
        "21: [rank21]:[E318 04:18:58.114302871 ProcessGroupNCCL.cpp:1515] [PG 3 Rank 5] Process "
        "group watchdog thread terminated with exception: CUDA error: unknown error",
        "5: [rank5]:[E318 04:28:59.572 ProcessGroupNCCL.cpp:616] [Rank 0] Watchdog caught "
        "collective operation timeout: WorkNCCL(SeqNum=8, OpType=ALLGATHER) ran for 600000 "
        "milliseconds before timing out.",
        "gpu-b07: [Mon Mar 18 04:18:56 2024] NVRM: Xid (PCI:0000:ab:00): 79, pid='<unknown>', "
        "name=<unknown>, GPU has fallen off the bus.",
    ]) == ("gpu_hardware", [21], ["gpu-b07"])


def test_most_of_the_world_raising_one_exception_is_the_codes() -> None:
    err = "{r}: KeyError: 'conversations'"
    timeout = "{r}: [E ProcessGroupNCCL.cpp:616] [Rank {r}] Watchdog caught collective " \
        "operation timeout: WorkNCCL(SeqNum=3, OpType=BROADCAST) ran for 600000 milliseconds"
    shown = (0, 1, 2, 3, 4, 5, 6, 7, 9, 11, 14)
    assert _culprits([err.format(r=r) for r in shown] + [timeout.format(r=15)]) == (
        "user_code", [], [])
    # half the world or less: those ranks
    assert _culprits([err.format(r=r) for r in (0, 4, 9)] + [timeout.format(r=15)])[1] == [
        0, 4, 9]
    # another rank raised an error of its own: not the code's alone
    assert _culprits([err.format(r=r) for r in shown]
                     + ["15: ValueError: bad sample 7"])[1] == list(shown)


def test_a_section_needs_an_agent_of_consecutive_ranks_and_worker_lines_between() -> None:
    def agent(ranks: list[int]) -> list[str]:
        return ["INFO:torch.distributed.elastic.agent.server.api:[default] Rendezvous complete "
                "for workers. Result:", f"  global_ranks={ranks}"]
    timeout = "[default1]:[E ProcessGroupNCCL.cpp:821] [Rank 1] Watchdog caught collective " \
        "operation timeout: WorkNCCL(SeqNum=9, OpType=ALLREDUCE) ran for 1800000 milliseconds"
    err = "[default3]:RuntimeError: CUDA error: uncorrectable ECC error encountered"
    # node 0's log, then node 1's
    assert _culprits([*agent([0, 1, 2, 3]), timeout, *agent([4, 5, 6, 7]), err])[1] == [7]
    # ranks not in one block (an agent of every other rank): no base for the section
    assert _culprits([*agent([0, 1, 2, 3]), timeout, *agent([1, 3, 5, 7]), err])[1] == []
    # a second rendezvous round of both agents, their blocks adjacent: interleaved again
    assert _culprits([*agent([0, 1, 2, 3]), timeout, *agent([4, 5, 6, 7]),
                      *agent([0, 1, 2, 3]), *agent([4, 5, 6, 7]), err])[1] == []


def test_composer_workers_that_exited_cleanly_are_no_records() -> None:
    a = Analyzer()
    a.feed("Global rank 3 (PID 5121) exited with code 0")
    a.feed("ERROR:composer.cli.launcher:Global rank 5 (PID 5123) exited with code 1")
    assert [(e.source, e.rank, e.exitcode) for e in a.digest().elastic_roots] == [
        ("composer", 5, 1)]

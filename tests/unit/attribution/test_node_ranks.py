"""Where a culprit's node and node rank come from in exported and pasted logs: tab-separated
columns (OLMo's `host:local_rank`, Vertex AI's replica, a collector's pod), `kubectl get
events` rows, a node's short and full name, and who is not to blame for a store timeout."""

from __future__ import annotations

import pytest

from resilience.attribution import Analyzer, analyze_lines
from resilience.attribution.culprits import first_failure
from resilience.attribution.digest import ElasticRoot
from resilience.attribution.hostlist import expand, host_lists

from .conftest import category_culprits as _verdict


def test_olmos_host_column_names_the_node_of_a_ranks_error() -> None:
    lines = [
        "2024-07-22 14:42:37.795\tjzc-g014:0\tolmo.train:1104\tINFO\tSaving checkpoint...",
        "2024-07-22 15:24:58.204\tjzc-g014:0\tolmo.util:165\tCRITICAL\tUncaught RuntimeError: "
        "[enforce fail at inline_container.cc:595] . unexpected pos 11630869504 vs 11630869392",
        "[rank0]:OSError: [Errno 122] Disk quota exceeded",
    ]
    assert _verdict(lines) == ("storage", [0], ["jzc-g014"])


def _vertex(replica: str, text: str, level: str = "ERROR") -> str:
    return f"{level}\t2024-06-11 21:37:02 +0000\t{replica}\t{text}"


def test_a_vertex_replicas_node_rank_and_local_rank_give_the_global_rank() -> None:
    lines = [
        _vertex("workerpool1-1", "entrypoint.sh: task=workerpool1/1 -> NODE_RANK=2, "
                "MASTER_ADDR=cmle-training-workerpool0-0, nnodes=4, nproc_per_node=8", "INFO"),
        _vertex("workerpool1-1", "../aten/src/ATen/native/cuda/Indexing.cu:1292: "
                "indexSelectLargeIndex: block: [412,0,0], thread: [6,0,0] Assertion `srcIndex < "
                "srcSelectDimSize` failed."),
        _vertex("workerpool0-0", "[E ProcessGroupNCCL.cpp:1182] [Rank 6] NCCL watchdog thread "
                "terminated with exception: NCCL error: remote process exited or there was a "
                "network error"),
        _vertex("workerpool1-1", "[2024-06-11 21:37:03,011] torch.distributed.elastic."
                "multiprocessing.api: [ERROR] failed (exitcode: 1) local_rank: 4 (pid: 2419) of "
                "binary: /usr/bin/python"),
    ]
    assert _verdict(lines) == ("user_code", [20], ["workerpool1-1"])


def test_the_store_host_waiting_for_clients_is_not_to_blame() -> None:
    # the replica that never joined is; the store's host only waited for it
    lines = [
        _vertex("workerpool0-0", "torch.distributed.DistStoreError: Timed out after 1801 seconds "
                "waiting for clients. 3/4 clients joined."),
        _vertex("workerpool1-0", "torch.distributed.DistNetworkError: Connection reset by peer"),
    ]
    assert _verdict(lines) == ("rendezvous", [], [])


def test_a_launchers_record_on_a_nodes_short_name_is_on_its_full_name() -> None:
    record = ElasticRoot(source="srun", line=9, rank=21, host="jupiter-cs-aus-214", exitcode=1)
    found = first_failure([record], {"jupiter-cs-aus-214.reviz.ai2.in"})
    assert found is not None and found.rank == 21
    assert first_failure([record], {"jupiter-cs-aus-215.reviz.ai2.in"}) is None


def test_a_pastes_node_ranks_and_processes_per_node_place_a_rank() -> None:
    lines = [
        "Launch, on each node (NODE_RANK=0 on ml-worker-3, 1 on ml-worker-4):",
        "  torchrun --nnodes 2 --node-rank $NODE_RANK --nproc-per-node 4 --master-addr "
        "ml-worker-3 --master-port 29611 train.py",
        "[rank6]: RuntimeError: DataLoader worker (pid 2374415) is killed by signal: Killed.",
    ]
    assert _verdict(lines)[1:] == ([6], ["ml-worker-4"])


def test_global_rank_0_runs_on_node_rank_0_and_a_launcher_record_gets_its_ranks_node() -> None:
    lines = [
        "2 nodes x 8 A100-80GB (gpu-box-a = node_rank 0, gpu-box-b = node_rank 1)",
        "ERROR:composer.cli.launcher:Global rank 0 (PID 4411) exited with code 1",
        "root@gpu-box-a:/workspace# touch /local_nvme/ckpt/x",
        "touch: cannot touch '/local_nvme/ckpt/x': No space left on device",
    ]
    assert _verdict(lines) == ("storage", [0], ["gpu-box-a"])


def test_node_ranks_two_hosts_claim_or_a_range_names_are_no_nodes() -> None:
    root = "[rank0]: OSError: [Errno 28] No space left on device"
    assert _verdict(["gpu-a1 (node_rank 0) and gpu-a2 (node_rank 0)", root])[2] == []
    assert _verdict(["workerpool1 = 3 x a2-ultragpu-8g (node_rank 0-2)", root])[2] == []
    assert _verdict(["machine_rank 0 = h100-b-03, machine_rank 1 = h100-b-07", root])[2] == [
        "h100-b-03"]


_LAUNCH = ("torchrun --nnodes=2 --node_rank=$NODE_RANK --nproc_per_node=8 --master_addr=10.1.0.31 "
           "--tee 3 train.py")


def test_a_section_title_names_the_node_and_node_rank_of_the_output_below() -> None:
    lines = [
        _LAUNCH,
        "Output of node 0 (gpu-a-31):",
        "```",
        "[default0]:step 2200 loss 2.31",
        "```",
        "Node 1 (gpu-a-32) had already exited ~30 min before that, its output ends with:",
        "```",
        "[default5]:AssertionError: loss is not finite",
        "[default5]:RuntimeError: CUDA error: device-side assert triggered",
        "```",
    ]
    assert _verdict(lines)[1:] == ([13], ["gpu-a-32"])


def test_a_titled_code_block_ends_with_its_fence_and_a_rank_outside_it_is_not_its() -> None:
    oom = ("[rank21]:torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 896.00 MiB. "
           "GPU 5 has a total capacity of 79.10 GiB of which 100.00 MiB is free.")
    fenced = [_LAUNCH, "Node 0 (a3m-7f2k) output, full:", "```", "[rank3]:step 140", "```",
              "and the tail of the node someone asked for", oom]
    assert _verdict(fenced)[2] == []  # the block of node 0 ended above
    named = [*fenced[:5], "and the tail of node 2 (a3m-q9dx), which someone asked for", oom]
    assert _verdict(named)[2] == ["a3m-q9dx"]  # its ranks: 16-23
    unfenced = [_LAUNCH, "Node 0 (a3m-7f2k) output, full:", "[rank3]:step 140", oom]
    assert _verdict(unfenced)[2] == []  # rank 21 is not one of node 0's 8


def test_accelerates_total_processes_over_machines_is_the_processes_per_node() -> None:
    lines = [
        "accelerate launch --num_machines 2 --machine_rank 1 --main_process_ip hx-07 "
        "--num_processes 16 -m axolotl.cli.train sft.yml",
        "Node 1 (hx-08), I only have the end of the tmux scrollback:",
        "[default5]:RuntimeError: CUDA error: device-side assert triggered",
    ]
    assert _verdict(lines)[1:] == ([13], ["hx-08"])


def test_without_processes_per_node_a_title_still_names_its_ranks_node_until_its_fence() -> None:
    oom = "[rank12]:torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."
    titled = ["node 0 (gpu-a800-01):", "```", "[rank3]:step 40", "```",
              "node 1 (gpu-a800-02), only the tail survived:", "```", oom, "```"]
    assert _verdict(titled)[1:] == ([12], ["gpu-a800-02"])
    after = ["node 1 (gpu-a800-02):", "```", "[rank9]:step 40", "```", "and the other one:", oom]
    assert _verdict(after)[2] == []
    prose = ["I think node 1 (gpu-a800-02) is fine, it ran yesterday. The error is", oom]
    assert _verdict(prose)[2] == []  # not a heading: no section


def test_a_lost_node_is_every_rank_srun_placed_there() -> None:
    lines = [
        "srun: error: Node failure on nid002317",
        "srun: error: nid002314: tasks 0-3: Killed",
        "srun: error: nid002317: tasks 8-11: Killed",
    ]
    assert _verdict(lines) == ("scheduler", [8, 9, 10, 11], ["nid002317"])


_FAILED_NODE = ["srun: error: Node failure on gn-a100-24",
                "7712094        mae-vith  NODE_FAIL      1:0   05:24:16      gn-a100-[21-24]"]


def test_a_lost_nodes_ranks_by_its_index_in_slurms_host_list() -> None:
    by_task = ["#SBATCH --ntasks-per-node=4", "srun: error: gn-a100-21: tasks 0-3: Killed"]
    # srun's tasks are ranks, 4 per node in the host list's order: the 4th node's are 12-15
    assert _verdict([*by_task, *_FAILED_NODE]) == ("scheduler", [12, 13, 14, 15],
                                                   ["gn-a100-24"])
    listed = _FAILED_NODE[1].replace("[21-24]", "[21,22-24]")
    assert _verdict([*by_task, _FAILED_NODE[0], listed])[1] == [12, 13, 14, 15]
    # two host lists (a requeued job's): which is which is unknown
    requeued = "7712094.0      RUNNING      0:0   00:01:58      gn-a100-[21-23,31]"
    assert _verdict([*by_task, *_FAILED_NODE, requeued])[1] == []
    # a list srun's own task -> host pairs contradict: `sinfo`'s drained nodes, a cyclic
    # distribution
    sinfo = ["#SBATCH --ntasks-per-node=4", "srun: error: gn-a100-22: tasks 4-7: Killed",
             _FAILED_NODE[0], "$ sinfo -R", "Not responding  slurm  2024-05-01T10:48:09 "
             "gn-a100-[24,31]"]
    assert _verdict(sinfo)[1] == []
    cyclic = ["#SBATCH --ntasks-per-node=4 --distribution=cyclic",
              "srun: error: gn-a100-21: tasks 0,4,8,12: Killed", *_FAILED_NODE]
    assert _verdict(cyclic)[1] == []
    assert _verdict([cyclic[0], "srun: error: gn-a100-21: task 0: Killed", *_FAILED_NODE])[1] \
        == []  # (one pair that happens to agree)
    # torchrun under srun numbers nodes as they join its rendezvous, not in the list's order
    torchrun = ["#SBATCH --ntasks-per-node=1",
                "srun torchrun --nnodes 4 --nproc_per_node 4 --rdzv_backend c10d train.py",
                "srun: error: gn-a100-21: task 0: Killed", *_FAILED_NODE]
    assert _verdict(torchrun)[1] == []
    # ... unless each node's is SLURM's index
    node_id = [line.replace("--rdzv_backend c10d", "--node_rank $SLURM_NODEID")
               for line in torchrun]
    assert _verdict(node_id)[1] == [12, 13, 14, 15]


def test_slurms_node_id_as_the_node_rank_of_workers_srun_started_leaves_tasks_ranks() -> None:
    lines = ["#SBATCH --ntasks-per-node=8", "export NODE_RANK=$SLURM_NODEID",
             "srun -l python train.py",
             "13: torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB",
             "srun: error: gpu-b: task 13: Exited with exit code 1"]
    assert _verdict(lines) == ("cuda_oom", [13], ["gpu-b"])
    # no node launcher named: srun's tasks are the workers whatever `--node_rank` says
    python = ["srun -l -n 16 python train.py --node_rank $SLURM_NODEID", *lines[3:]]
    assert _verdict(python) == ("cuda_oom", [13], ["gpu-b"])
    # a node launcher named too, but each worker given SLURM's local id: srun started them
    local_id = ["(before: torchrun --nproc_per_node 8 on one node)",
                "srun -l -n 16 python train.py --node_rank $SLURM_NODEID --local_rank "
                "$SLURM_LOCALID", *lines[3:]]
    assert _verdict(local_id) == ("cuda_oom", [13], ["gpu-b"])
    # ... or 8 tasks per node
    assert _verdict(["(before: torchrun --nproc_per_node 8 on one node)", *lines]) == (
        "cuda_oom", [13], ["gpu-b"])


@pytest.mark.parametrize(("text", "hosts"), [
    ("gn-a100-[21-24]", ["gn-a100-21", "gn-a100-22", "gn-a100-23", "gn-a100-24"]),
    ("nid[002314-002315,002317]", ["nid002314", "nid002315", "nid002317"]),
    ("gpu-r3n[07,09]", ["gpu-r3n07", "gpu-r3n09"]),
    ("gpu[9-10].cluster", ["gpu9.cluster", "gpu10.cluster"]),
    ("gpu[3-1]", None),  # backwards
    ("gpu[1-5000]", None),  # too many
    ("gpu[7]", None),  # one host: no list
    ("gpu-a07,gpu-b[01-02]", ["gpu-a07", "gpu-b01", "gpu-b02"]),  # a plain host keeps its place
    ("gn-[01-02],gn-[05-06]", ["gn-01", "gn-02", "gn-05", "gn-06"]),
])
def test_slurms_host_lists_expand_in_order(text: str, hosts: list[str] | None) -> None:
    assert expand(text) == hosts


def test_a_bracket_that_is_no_host_list_is_none() -> None:
    assert host_lists("[2024-05-20 16:41:09] [1,13]<stderr>: block: [211,0,0] x[1]") == []


def test_a_host_list_seen_before_is_not_expanded_again() -> None:
    seen: set[str] = set()
    line = "NodeList=gn-[001-999] (and again: gn-[001-999])."
    assert [len(hosts) for hosts in host_lists(line, seen)] == [999]
    assert host_lists(line, seen) == [] and seen == {"gn-[001-999]"}
    assert host_lists("gn-a100-[21,23-24]")[0] == ("gn-a100-21", "gn-a100-23", "gn-a100-24")


def test_a_digest_taken_mid_stream_changes_no_later_verdict() -> None:
    lines = ["#SBATCH --ntasks-per-node=4", "srun: error: gn-a100-21: tasks 0-3: Killed",
             *_FAILED_NODE]
    requeued = "7712094.0      RUNNING      0:0   00:01:58      gn-a100-[21-23,31]"
    a = Analyzer()
    for line in lines:
        a.feed(line)
    assert a.digests()[-1].rank_hosts.get(12) == "gn-a100-24"
    a.feed(requeued)
    assert 12 not in a.digests()[-1].rank_hosts  # two lists now: neither is taken


def test_a_lost_nodes_ranks_with_gaps_are_a_partial_view_not_its_ranks() -> None:
    lines = [
        "srun: error: Node failure on gpu-054",
        "gpu-054:81:392 [0] NCCL INFO comm 0x5a1 rank 24 nranks 32 cudaDev 0 busId 1000 - Init",
        "gpu-054:82:393 [2] NCCL INFO comm 0x5a2 rank 26 nranks 32 cudaDev 2 busId 2000 - Init",
    ]
    assert _verdict(lines) == ("scheduler", [], ["gpu-054"])


def test_prose_quoting_an_error_is_a_mention_and_an_exception_quoting_its_cause_is_not() -> None:
    bus = ("ERROR: Unexpected bus error encountered in worker. This might be caused by "
           "insufficient shared memory (shm).")
    title = '[forum] RTMDet-L multi-node fine-tune dies with "Bus error" on one worker'
    # the worker's bus error (its /dev/shm: STOP), not the title's quote of it (a node's SIGBUS)
    assert analyze_lines([title, bus]).action.value == "STOP"
    save = ('safetensors_rust.SafetensorError: Error while serializing: IoError(Os { code: 28, '
            'kind: StorageFull, message: "No space left on device" })')
    assert _verdict([save])[0] == "storage"


def test_slurmstepd_reporting_a_node_failure_is_not_the_failed_node() -> None:
    cancel = ("slurmstepd: error: *** JOB 3301928 ON gn-0117 CANCELLED AT 2024-02-19T04:12:55 "
              "DUE TO NODE FAILURE, SEE SLURMCTLD LOG FOR DETAILS ***")
    assert _verdict([cancel]) == ("scheduler", [], [])
    assert _verdict([cancel, "srun: error: Node failure on gn-0121"])[2] == ["gn-0121"]


def test_a_failure_line_is_the_root_before_prose_that_mentions_it() -> None:
    prose = "my 4-node job never starts, rank 0 dies after 30 min with DistStoreError, firewall?"
    store = ("0: torch.distributed.DistStoreError: Timed out after 1801 seconds waiting for "
             "clients. 24/32 clients joined.")
    v = analyze_lines([prose, "srun: error: hgx-07: task 0: Exited with exit code 1", store])
    assert (v.evidence[0].line, list(v.culprit_ranks)) == (3, [])
    # a program's record without a known prefix, and torchelastic's error file, are failures
    nan = "I20231105 21:40:31 2771904 dinov2 train.py:265] NaN detected"
    assert _verdict([nan, "AssertionError"])[0] == "numerical"
    handler = ('    "message": "RendezvousConnectionError: The connection to the C10d store has '
               'failed."')
    late = "torch.distributed.elastic.rendezvous.api.RendezvousTimeoutError"
    assert analyze_lines([handler, late]).evidence[0].line == 1


def test_a_launchers_record_before_a_checkpoint_saved_before_the_root_was_an_earlier_try() -> None:
    lines = [
        "RuntimeError: Non-finite loss (nan) at batch 4212ba; aborting",
        "ERROR:composer.cli.launcher:Global rank 9 (PID 4411) exited with code 1",
        "[batch=4300/48000]: Train loss: 2.31",
        "[batch=5000/48000]: Uploading checkpoint to s3://ckpt/ep0-ba5000-rank0.pt",
        "[batch=5100/48000]: Train loss: 2.29",
        "RuntimeError: Non-finite loss (nan) at batch 5131ba; aborting",
        "ERROR:composer.cli.launcher:Global rank 3 (PID 5120) exited with code 1",
    ]
    v = analyze_lines(lines)
    assert (v.action.value, v.category.value, list(v.culprit_ranks)) == ("RESTART", "numerical",
                                                                         [3])


def test_detectron2s_machine_titles_place_an_mp_spawn_process() -> None:
    lines = [
        "[03/28 09:12:38 detectron2]: Command line arguments: Namespace(config_file='x.yaml', "
        "num_gpus=8, num_machines=2, machine_rank=0, dist_url='tcp://10.18.4.21:50152')",
        "machine 0 (vision-07):",
        "[03/28 09:12:40 d2.engine.train_loop]: Starting training from iteration 0",
        "[E ProcessGroupNCCL.cpp:475] [Rank 0] Watchdog caught collective operation timeout: "
        "WorkNCCL(SeqNum=9, OpType=ALLREDUCE) ran for 1800095 milliseconds before timing out.",
        "machine 1 (vision-08) - here it exits much earlier:",  # first line after a candidate
        "```",
        "-- Process 3 terminated with the following error:",
        "RuntimeError: CUDA error: device-side assert triggered",
        "```",
    ]
    assert _verdict(lines)[1:] == ([11], ["vision-08"])
    # without the processes per node, the title still names the node of its spawn record
    assert _verdict(lines[1:])[1:] == ([], ["vision-08"])


def test_megatrons_rerun_check_names_the_node_of_its_rank() -> None:
    lines = ["[rank16]: RuntimeError: Rank 16, node gpu-b03, device 0, iteration 15231: "
             "Unexpected result nan (message='found NaN in local grad norm')"]
    assert _verdict(lines) == ("numerical", [16], ["gpu-b03"])


def test_a_record_above_a_checkpoint_is_an_earlier_attempts_only_if_the_fault_came_before() -> None:
    record = ["Root Cause (first observed failure):", "[0]:", "  time      : 2024-06-11_21:37:03",
              "  host      : gpu-b-02", "  rank      : 9 (local_rank: 1)",
              "  exitcode  : -9 (pid: 4411)", "  error_file: <N/A>",
              "  traceback : Signal 9 (SIGKILL) received by PID 4411", "=" * 60]
    timeout = ("[rank0]:[E ProcessGroupNCCL.cpp:475] [Rank 0] Watchdog caught collective "
               "operation timeout: WorkNCCL(SeqNum=9, OpType=ALLREDUCE) ran for 1800095 "
               "milliseconds before timing out.")
    # node 1's section (its record) pasted above node 0's checkpoint and timeout: one failure
    lines = ["Output of node 1 (gpu-b-02):", *record, "Output of node 0 (gpu-a-01):",
             "[rank0]:Saving checkpoint at step 5000 to /ckpt/step_5000",
             "[rank0]:step 5010 loss 2.31", timeout]
    assert _verdict(lines) == ("unknown", [9], ["gpu-b-02"])


def test_a_pastes_titles_and_node_ranks_outlive_a_torchelastic_restart_in_it() -> None:
    err = "[default3]:RuntimeError: CUDA error: an illegal memory access was encountered"
    rec = ("[2024-06-11 21:37:03,011] torch.distributed.elastic.multiprocessing.api: [ERROR] "
           "failed (exitcode: 1) local_rank: 3 (pid: 2419) of binary: /usr/bin/python")
    restart = ("[2024-06-11 21:37:04,011] torch.distributed.elastic.agent.server.api: [WARNING] "
               "Worker group FAILED. 2/3 attempts left; will restart worker group")
    lines = [_LAUNCH, "Node 1 (gpu-b-02), its output:", "```", "[default0]:step 10", err, rec,
             restart, "[default0]:step 1", err, rec, "```"]
    assert _verdict(lines)[1:] == ([11], ["gpu-b-02"])


def test_fences_on_a_title_line_or_tagged_like_an_error_still_open_and_close_blocks() -> None:
    oom = "[rank12]:torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."
    for title, fence in (("node 0 (gpu-a800-01): ```", None),
                         ("node 0 (gpu-a800-01):", "```error")):
        lines = [title, *([fence] if fence else []), "[rank3]:step 40", "```",
                 "node 1 (gpu-a800-02):", "```log", oom, "```"]
        assert _verdict(lines)[2] == ["gpu-a800-02"], (title, fence)


def test_upper_case_titles_and_a_launcher_line_without_a_node_rank_are_read() -> None:
    oom = "[rank12]:torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."
    assert _verdict(["=== MACHINE 1 (gpu-a800-02) ===", oom])[2] == ["gpu-a800-02"]
    assert _verdict(["=== NODE 1 (gpu-a800-02) ===", oom])[2] == ["gpu-a800-02"]
    lines = ["torchrun --nnodes 2 --nproc_per_node 8 --rdzv_backend c10d train.py",
             "Node 1 (hx-08), I only have the end of the tmux scrollback:",
             "[default5]:RuntimeError: CUDA error: device-side assert triggered"]
    assert _verdict(lines)[1:] == ([13], ["hx-08"])


def test_one_rank_on_a_lost_node_or_a_huge_task_range_is_no_list_of_its_ranks() -> None:
    lost = "srun: error: Node failure on gpu-054"
    one = "gpu-054:81:392 [0] NCCL INFO comm 0x5a1 rank 24 nranks 32 cudaDev 0 busId 1000 - Init"
    assert _verdict([lost, one])[1] == []
    for huge in ("srun: error: gpu-054: tasks 0-99999999: Killed",
                 "srun: error: gpu-054: tasks 8-11,12-99999999: Killed"):
        assert len(_verdict([lost, huge])[1]) <= 1  # not the first 256 of them, nor a part


def test_a_gpu_model_or_a_name_with_an_underscore_is_no_host() -> None:
    oom = "[rank3]:torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."
    assert _verdict(["Node 0 (A100-SXM4-80GB x8):", oom])[2] == []
    assert _verdict(["== node 0 (x86_64) ==", oom])[2] == []


def test_the_pastes_nodes_x_gpus_gives_the_processes_per_node_where_no_launcher_does() -> None:
    def verdict(setup: str, launcher: list[str]) -> tuple[list[int], list[str]]:
        return _verdict([
            f"torch 2.4.0, {setup}.",
            "machine_rank 0 = h100-b-03 (main_process_ip 10.20.3.5), machine_rank 1 = h100-b-07.",
            *launcher,
            "[rank11]: RuntimeError: CUDA error: device-side assert triggered",
        ])[1:]
    assert verdict("2 nodes x 8 H100", []) == ([11], ["h100-b-07"])
    assert verdict("2 nodes \u00d7 8 H100", []) == ([11], ["h100-b-07"])
    assert verdict("16 GPUs, 8 GPUs per node", []) == ([11], ["h100-b-07"])
    assert verdict("2 nodes x 16 H100", []) == ([11], ["h100-b-03"])
    # a launcher's own count wins; two counts in the prose give none
    assert verdict("2 nodes x 16 H100", ["torchrun --nproc_per_node 8 train.py"]) \
        == ([11], ["h100-b-07"])
    assert verdict("2 nodes x 8 H100 (was 4 nodes x 4 A100)", []) == ([11], [])


def test_a_launcher_started_on_one_node_runs_every_rank_on_the_one_host_named() -> None:
    def verdict(launch: str, hosts: tuple[str, ...] = ("gpu-ws-12",)) -> list[str]:
        return _verdict([
            f"Launch: `{launch} train_cls.py --epochs 40`",
            "[rank5]: RuntimeError: Detected mismatch between collectives on ranks. Rank 5 is "
            "running collective: CollectiveFingerPrint(OpType=BROADCAST)",
            *(line for host in hosts for line in (
                "Root Cause (first observed failure):", "[0]:",
                "  time      : 2024-06-12_18:41:01", f"  host      : {host}",
                "  rank      : 2 (local_rank: 2)", "  exitcode  : 1 (pid: 73312)")),
        ])[2]
    assert verdict("torchrun --standalone --nproc_per_node 8") == ["gpu-ws-12"]
    assert verdict("torchrun --nnodes=1 --nproc_per_node 8") == ["gpu-ws-12"]
    assert verdict("torchrun --nnodes=2 --nproc_per_node 8") == []  # another node's, maybe
    assert verdict("torchrun --standalone --nproc_per_node 8", ("gpu-ws-12", "gpu-ws-13")) == []


def _node_sections(second_title: str) -> list[str]:
    return [
        "torchrun --nnodes=2 --nproc_per_node=8 --node_rank=0 train_vl.py",
        "**dgx-03** (node_rank 0):",
        "```",
        "[E ProcessGroupNCCL.cpp:821] [Rank 3] Watchdog caught collective operation timeout: "
        "WorkNCCL(SeqNum=27715, OpType=ALLREDUCE, Timeout(ms)=1800000) ran for 1800349 "
        "milliseconds before timing out.",
        "Root Cause (first observed failure):", "[0]:",
        "  time      : 2024-03-02_02:41:07", "  host      : dgx-03",
        "  rank      : 3 (local_rank: 3)", "  exitcode  : -6 (pid: 4411)",
        "```",
        second_title,
        "```",
        "IndexError: Caught IndexError in DataLoader worker process 3.",
        "ERROR:torch.distributed.elastic.multiprocessing.api:failed (exitcode: 1) local_rank: 4 "
        "(pid: 2231) of binary: /opt/conda/bin/python",
        "```",
    ]


def test_an_error_without_a_rank_in_a_titled_code_block_is_on_the_titled_node() -> None:
    # torch 1.13 prints no rank prefix: the node's launcher record is the culprit, not the
    # other node's Root Cause (a timeout 30 minutes later)
    lines = _node_sections("**dgx-07** (node_rank 1), I only copied the end:")
    assert _verdict(lines) == ("user_code", [12], ["dgx-07"])


def test_a_node_named_in_an_aside_titles_nothing() -> None:
    aside = _node_sections("the end of it (node 1 = dgx-07 looks the same):")
    assert _verdict(aside) == _verdict(_node_sections("the end of it:"))


def test_a_line_ending_in_a_host_with_a_node_rank_titles_its_output() -> None:
    def verdict(title: str, own_line: bool = False) -> tuple[str, list[int], list[str]]:
        return _verdict([
            *("2x 8xH100 boxes (h100-sxm-07 = node_rank 0, h100-sxm-11 = node_rank 1), torchrun "
              "2.4. " + ("" if own_line else title), *([title] if own_line else [])),
            "```",
            "[rank14]:[E915 03:12:09.554410192 ProcessGroupNCCL.cpp:1515] [PG 0 (default_pg) Rank "
            "14] Process group watchdog thread terminated with exception: CUDA error: "
            "uncorrectable NVLink error detected during the execution",
            "```",
        ])
    assert verdict("this is the tail from h100-sxm-11:") \
        == ("gpu_hardware", [14], ["h100-sxm-11"])
    assert verdict("Output from h100-sxm-11:", own_line=True) \
        == ("gpu_hardware", [14], ["h100-sxm-11"])
    assert verdict("this is the tail from h100-sxm-12:") == ("gpu_hardware", [14], [])  # unknown
    assert verdict("this is the tail:") == ("gpu_hardware", [14], [])


def test_a_described_pods_environment_gives_its_node_rank() -> None:
    lines = [
        "$ kubectl -n vision logs rtmdet-l-coco-ft-worker-1 | tail -n 75",
        "ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient "
        "shared memory (shm).",
        "[2024-05-02 10:11:12,001] torch.distributed.elastic.multiprocessing.api: [ERROR] failed "
        "(exitcode: 1) local_rank: 2 (pid: 311) of binary: /usr/bin/python",
        "$ kubectl -n vision describe pod rtmdet-l-coco-ft-worker-1",
        "Name:             rtmdet-l-coco-ft-worker-1",
        "    Environment:",
        "      PET_NPROC_PER_NODE:  8",
        "      PET_NNODES:          4",
        "      PET_NODE_RANK:       2",
    ]
    assert _verdict(lines) == ("host", [18], ["rtmdet-l-coco-ft-worker-1"])


def test_a_launchers_own_node_rank_beats_a_title_counting_nodes_from_one() -> None:
    def node(title: str, host: str, index: int) -> list[str]:
        return [title, "```", f"ubuntu@{host}:~/tt$ tune run --nnodes 2 --nproc_per_node 8 "
                f"--node-rank {index} --rdzv-endpoint gpu-ws-71:29400 full_finetune_distributed",
                "Running with torchrun...", "```"]
    lines = [
        "From our shared log, the first error:",
        "[rank9]: ValueError: /tmp/Meta-Llama-3.1-70B-Instruct is not a valid directory.",
        *node("node 1 (gpu-ws-71):", "gpu-ws-71", 0),
        *node("node 2 (gpu-ws-72), dies in ~10 s:", "gpu-ws-72", 1),
    ]
    assert _verdict(lines)[1:] == ([9], ["gpu-ws-72"])


_OOM3 = "[rank3]:torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."


def test_a_one_node_run_compared_with_a_two_node_one_places_nothing() -> None:
    lines = ["`torchrun --standalone --nproc_per_node 8 train.py` works; `torchrun --nnodes 2 "
             "--nproc_per_node 8 train.py` fails. Only have gpu-b02's log:", _OOM3,
             "Root Cause (first observed failure):", "[0]:", "  host      : gpu-b02",
             "  rank      : 11 (local_rank: 3)", "  exitcode  : 1 (pid: 4411)"]
    assert _verdict(lines)[1:] == ([3], [])


def test_mpirun_starting_one_launcher_per_node_maps_no_rank_by_slot() -> None:
    lines = ["$ mpirun -np 2 --hostfile hosts -npernode 1 torchrun --nnodes 2 --nproc_per_node 8 "
             "train.py", "gpu-c01 slots=1", "gpu-c02 slots=1",
             "[rank1]:torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."]
    assert _verdict(lines)[1:] == ([1], [])


def test_a_title_without_a_code_block_does_not_title_a_later_one() -> None:
    xid = ("[Fri Apr 12 04:31:23 2024] NVRM: Xid (PCI:0000:ab:00): 79, pid='<unknown>', "
           "name=<unknown>, GPU has fallen off the bus.")
    lines = ["**dgx-07** (node_rank 1):",
             "[rank12]: RuntimeError: CUDA error: an illegal memory access was encountered", "",
             "dmesg from the other box:", "```", xid, "```"]
    analyzer = Analyzer()
    analyzer.feed_bytes(("\n".join(lines) + "\n").encode())
    nodes = {c.pattern: c.node for d in analyzer.digests() for c in d.candidates}
    assert nodes["xid_fatal"] is None  # not the title's: its own line is not in that block
    # a title that opens its code block names the host of the block's lines
    analyzer = Analyzer()
    analyzer.feed_bytes(("\n".join([lines[0], "```", xid, "```"]) + "\n").encode())
    assert [c.node for d in analyzer.digests() for c in d.candidates] == ["dgx-07"]


def test_a_launchers_claim_of_a_node_rank_drops_the_pastes_other_host_for_it() -> None:
    lines = ["[rank9]: ValueError: /tmp/Meta-Llama-3.1-70B-Instruct is not a valid directory.",
             "node 1 (gpu-ws-71): it hangs", "node 2 (gpu-ws-72), dies in ~10 s:", "```",
             "ubuntu@gpu-ws-72:~/tt$ tune run --nnodes 2 --nproc_per_node 8 --node-rank 1 "
             "full_finetune_distributed", "```"]
    assert _verdict(lines)[1:] == ([9], ["gpu-ws-72"])


def _srun_torchrun(node_rank: str, sruns: list[str]) -> list[str]:
    return [
        "$ srun --ntasks-per-node=1 torchrun --nnodes 2 --nproc_per_node 4 \\",
        f"    --node_rank {node_rank} --master_addr gpu-a train.py",  # (a line of its own)
        "safetensors_rust.SafetensorError: Error while serializing: IoError(Os { code: 122, "
        'kind: FilesystemQuotaExceeded, message: "Disk quota exceeded" })',
        "[2024-05-20 16:41:10,604] torch.distributed.elastic.multiprocessing.api: [ERROR] "
        "failed (exitcode: 1) local_rank: 2 (pid: 51230) of binary: /usr/bin/python",
        *sruns,
    ]


def test_srun_task_n_is_node_rank_n_when_the_launcher_takes_slurms_node_id() -> None:
    srun = "srun: error: gpu-b: task 1: Exited with exit code 1"
    # the agent that failed ran on the host srun names right after it: node 1, rank 4 + 2
    assert _verdict(_srun_torchrun("$SLURM_NODEID", [srun])) == ("storage", [6], ["gpu-b"])
    assert _verdict(_srun_torchrun("${SLURM_NODEID}", [srun])) == ("storage", [6], ["gpu-b"])
    # a node rank of another source: srun's task ids say nothing of node ranks
    assert _verdict(_srun_torchrun("$NODE_RANK", [srun]))[1] == []
    # every launcher ended at once: srun's order names no host
    burst = ["srun: error: gpu-a: task 0: Exited with exit code 1", srun]
    assert _verdict(_srun_torchrun("$SLURM_NODEID", burst)) == ("storage", [], [])
    # a traceback between: another launcher may have ended first
    traceback = ["Traceback (most recent call last):", '  File "run.py", line 8, in <module>',
                 "    sys.exit(main())"]
    assert _verdict(_srun_torchrun("$SLURM_NODEID", [*traceback, srun]))[1] != [6]


def test_a_torchelastic_entry_of_another_pid_lends_no_global_rank() -> None:
    entry = ["Root Cause (first observed failure):", "[0]:", "  time      : 2024-02-20_15:41:21",
             "  host      : gpu-a", "  rank      : 2 (local_rank: 2)",
             "  exitcode  : -6 (pid: 51230)", "=" * 40]
    ecc = "RuntimeError: CUDA error: uncorrectable ECC error encountered"
    agent = ("[2024-02-20 15:41:20,160] torch.distributed.elastic.multiprocessing.api: [ERROR] "
             "failed (exitcode: 1) local_rank: 2 (pid: {}) of binary: /usr/bin/python")
    other_node = ("gpu-b:40117:40190 [3] transport/net_ib.cc:1696 NCCL WARN NET/IB : Got "
                  "completion from peer 10.0.0.1<33817> with error 12")
    # gpu-a's local rank 2 is another process: the failed worker's global rank is unknown
    assert _verdict([*entry, other_node, ecc, agent.format(40114)])[1] == []
    assert _verdict([*entry, other_node, ecc, agent.format(51230)])[1] == [2]  # that process


def test_a_kubeflow_pytorchjobs_pods_are_node_ranks_by_name() -> None:
    failed = ("[2024-06-02 09:14:07,512] torch.distributed.elastic.multiprocessing.api: [ERROR] "
              "failed (exitcode: 1) local_rank: {} (pid: 4412) of binary: /usr/bin/python")
    timeout = ("[E ProcessGroupNCCL.cpp:475] [Rank {}] Watchdog caught collective operation "
               "timeout: WorkNCCL(SeqNum=1, OpType=BARRIER, Timeout(ms)=1800000)")
    master = ["$ kubectl logs qwen-sft-master-0", "ValueError: example 172 has no assistant turn",
              failed.format(0), "$ kubectl logs qwen-sft-worker-0", timeout.format(5)]
    # the master is node rank 0: its local rank 0 is global rank 0, processes per node unknown
    assert _verdict(master) == ("user_code", [0], ["qwen-sft-master-0"])
    # worker N is node rank N + 1, where the job's master is in the log too
    worker = ["$ kubectl logs qwen-sft-worker-1", "torchrun --nnodes 3 --nproc_per_node 4 x.py",
              "ValueError: example 172 has no assistant turn", failed.format(2)]
    assert _verdict([*worker, "$ kubectl logs qwen-sft-master-0", timeout.format(0)]) == (
        "user_code", [10], ["qwen-sft-worker-1"])
    assert _verdict(worker)[1] != [10]  # no master: the worker numbering is not known

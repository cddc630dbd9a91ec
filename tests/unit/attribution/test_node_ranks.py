"""Where a culprit's node and node rank come from in exported and pasted logs: tab-separated
columns (OLMo's `host:local_rank`, Vertex AI's replica, a collector's pod), `kubectl get
events` rows, a node's short and full name, and who is not to blame for a store timeout."""

from __future__ import annotations

from resilience.attribution import analyze_lines
from resilience.attribution.culprits import first_failure
from resilience.attribution.digest import ElasticRoot


def _verdict(lines: list[str]) -> tuple[str, list[int], list[str]]:
    v = analyze_lines(lines)
    return v.category.value, list(v.culprit_ranks), list(v.culprit_nodes)


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

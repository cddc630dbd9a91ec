"""Where a pasted log says which host its lines come from: Ray's worker prefixes (an IP, and the
host name NCCL gives the same node), a shell prompt before a command's output, `kubectl
describe pod`, a `kubectl get pods` row, Megatron's NaN message; and what Kubernetes and cloud
VMs say when they kill a pod or reclaim a node."""

from __future__ import annotations

from resilience.attribution import analyze_lines
from resilience.attribution.lines import parse_line
from resilience.attribution.paste import kubectl_pod, prompt_host, ssh_host

from .conftest import ray_table

_TIMEOUT = ("[rank{r}]:[E1119 11:43:31.489193 95 ProcessGroupNCCL.cpp:616] [Rank {r}] Watchdog "
            "caught collective operation timeout: WorkNCCL(SeqNum=88, OpType=ALLREDUCE) ran for "
            "1800095 milliseconds before timing out.")


def _verdict(lines: list[str]) -> tuple[str, str, list[int], list[str]]:
    v = analyze_lines(lines)
    return v.action.value, v.category.value, list(v.culprit_ranks), list(v.culprit_nodes)


def test_a_ray_prefix_gives_the_worker_pid_and_its_node_ip() -> None:
    info = parse_line("(RayTrainWorker pid=4410, ip=10.0.3.14) [rank6]:RuntimeError: boom")
    assert (info.rank, info.pid, info.host, info.content) == (6, 4410, "10.0.3.14",
                                                              "RuntimeError: boom")
    nccl = parse_line("(RayTrainWorker pid=50211, ip=10.42.3.17) ray-gpu-2:50211:50588 [0] "
                      "NCCL WARN NET/IB : Got async event : port error")
    assert (nccl.pid, nccl.host, nccl.ip) == (50211, "ray-gpu-2", "10.42.3.17")
    trainer = parse_line("(TorchTrainer pid=2790) RayTaskError(OutOfMemoryError): boom")
    assert trainer.pid is None  # the trainer re-raises a worker's error: not a worker's pid
    assert parse_line("(det2) ubuntu@x:~$ ls").content == "(det2) ubuntu@x:~$ ls"


def test_a_ray_workers_rank_and_node_come_from_the_worker_table() -> None:
    table = ray_table("TorchTrainer pid=48211", ["10.0.1.23", "10.0.1.87"], range(9123, 9131))
    assert _verdict([
        *table,
        # Ray colours the actor name
        "ray.exceptions.RayTaskError(FileNotFoundError): \x1b[36mray::_RayTrainWorker__execute"
        ".get_next()\x1b[39m (pid=9128, ip=10.0.1.87, actor_id=52c0)",
        "FileNotFoundError: [Errno 2] Failed to open local file '/mnt/nvme/shards/train-5.parquet'",
    ]) == ("STOP", "user_code", [5], ["10.0.1.87"])


def test_a_node_named_by_ip_and_by_name_is_reported_by_name() -> None:
    table = ray_table("TorchTrainer pid=2290, ip=10.42.3.11", ["10.42.3.11", "10.42.3.17"],
                      range(50209, 50213))
    assert _verdict([
        *table,
        "(RayTrainWorker pid=50211, ip=10.42.3.17) ray-gpu-2:50211:50588 [0] NCCL WARN NET/IB : "
        "Got async event : port error",
        "(RayTrainWorker pid=50209, ip=10.42.3.11) ray-gpu-0:50209:50501 [0] NCCL WARN NET/IB : "
        "Got completion from peer 10.42.3.17<47781> with status=12 opcode=128 len=0 vendor err "
        "129 (Recv)",
    ]) == ("RESTART", "network", [2], ["ray-gpu-2"])


def test_a_prompt_names_the_host_of_the_output_after_it() -> None:
    assert prompt_host("(ft) ubuntu@ip-10-0-71-9:~/llama$ accelerate launch train.py") \
        == "ip-10-0-71-9"
    assert prompt_host("[alice@gpu-r07 run]$ NCCL_DEBUG=INFO python train.py") == "gpu-r07"
    assert prompt_host("root@pod-1:/workspace# sudo dmesg -T | tail") == "pod-1"
    for elsewhere in ("[alice@login01 ~]$ sbatch job.sh", "alice@login01:~$ cat slurm-12.out",
                      "bob@head:~$ srun -N2 hostname"):
        assert prompt_host(elsewhere) == "", elsewhere  # the output is not this host's
    assert prompt_host("mail alice@example.com: the job died") is None
    lines = [
        "machine 0 is fine, machine 1 crashed:",
        "(det2) ubuntu@gpu-worker-2:~/detectron2$ python tools/train_net.py --num-gpus 4 "
        "--num-machines 2 --machine-rank 1 --dist-url tcp://10.0.40.11:50152",
        "[default3]:RuntimeError: CUDA error: device-side assert triggered",
    ]
    assert _verdict(lines) == ("STOP", "user_code", [7], ["gpu-worker-2"])
    # the same output after a login node's `cat`: no host
    assert _verdict(["alice@login01:~$ cat slurm-88.out", *lines[2:]])[3] == []


def test_kubectl_after_a_prompt_names_the_pod_and_wrappers_are_seen_through() -> None:
    device_assert = "[default3]:RuntimeError: CUDA error: device-side assert triggered"
    for first in ("alice@login:~$ ls", "alice@gpu-3:~$ nvidia-smi"):
        assert _verdict([first, "alice@login:~$ kubectl logs trainer-worker-1", device_assert]) \
            == ("STOP", "user_code", [3], ["trainer-worker-1"]), first
    for prompt in ("(venv) alice@login:~$ kubectl logs w-3", "[alice@login01 ~]$ kubectl logs w-3",
                   "$ kubectl describe po/w-3"):
        assert kubectl_pod(prompt) == "w-3", prompt
    assert kubectl_pod("$ kubectl describe pod a-1 b-2") is None  # two pods
    assert kubectl_pod("$ kubectl logs bert-ft-master-0 -n nlp --tail 40") == "bert-ft-master-0"
    for wrapped in ("alice@gpu-3:~$ env X=1 ssh gpu-4", "alice@gpu-3:~$ sudo -u bob ssh gpu-4"):
        assert prompt_host(wrapped) == "gpu-4", wrapped  # ssh's host, not the prompt's


def test_a_trainers_line_carries_no_host_of_its_own() -> None:
    table = ray_table("TorchTrainer pid=2290, ip=10.42.3.11", ["10.42.3.11", "10.42.3.17"],
                      range(50209, 50213))
    assert _verdict([
        *table,
        "(TorchTrainer pid=2290, ip=10.42.3.11) ray.exceptions.RayTaskError(FileNotFoundError): "
        "ray::_RayTrainWorker__execute.get_next() (pid=50212, ip=10.42.3.17, actor_id=5e1c)",
        "(TorchTrainer pid=2290, ip=10.42.3.11) FileNotFoundError: [Errno 2] No such file: 'x'",
    ]) == ("STOP", "user_code", [3], ["10.42.3.17"])


def test_a_prompt_whose_program_relays_other_hosts_output_names_no_host() -> None:
    lines = [
        "(base) ray@ray-head-7kq2x:~$ python train_dist.py --num-workers 8",
        "(TorchTrainer pid=48211) - (ip=10.0.1.87, pid=9128) world_rank=5, local_rank=1",
        "FileNotFoundError: [Errno 2] No such file or directory: '/mnt/nvme/shards/train-5'",
    ]
    assert _verdict(lines)[3] == []  # the Ray driver prints its workers' tracebacks
    assert _verdict([lines[0], lines[2]])[3] == ["ray-head-7kq2x"]  # nothing relayed: its own


def test_kubectl_describe_pod_and_a_pods_status_name_the_pod() -> None:
    assert kubectl_pod("$ kubectl -n nlp describe pod bert-ft-worker-2") == "bert-ft-worker-2"
    assert kubectl_pod("$ kubectl -n nlp logs bert-ft-worker-1 | tail -12") == "bert-ft-worker-1"
    assert kubectl_pod("$ kubectl describe pods/w-3") == "w-3"
    assert kubectl_pod("$ kubectl describe node gke-a3-x7kq") is None
    assert kubectl_pod("$ kubectl get pods -o wide") is None
    described = [
        "$ kubectl -n nlp describe pod bert-ft-worker-2",
        "Name:             bert-ft-worker-2",
        "    Last State:     Terminated",
        "      Reason:       OOMKilled",
        "      Exit Code:    137",
    ]
    assert _verdict(described) == ("STOP", "host", [], ["bert-ft-worker-2"])
    row = "bert-ft-worker-2      0/1     OOMKilled   0          71m   10.244.9.40   ip-10-20-42-66"
    progress = [f"[2024-02-07 14:1{i}:21] rank=0 step {i}00 done" for i in range(5)]
    # a status table pasted before the output it sums up is not made stale by that output
    assert _verdict([row, *progress, _TIMEOUT.format(r=0)]) == (
        "STOP", "host", [], ["bert-ft-worker-2"])
    for prose in ("I see no OOMKilled anywhere, only:", "maybe it got OOMKilled and the kubelet "
                  "sent TERM first?", "Was the reason OOMKilled? No, describe says Reason: Error.",
                  "Is the pod status OOMKilled or Error?", "> status: OOMKilled? I don't think so",
                  "the reason OOMKilled is not shown anywhere"):  # a guess is no pod status
        assert _verdict([prose, _TIMEOUT.format(r=0)])[1] == "hang", prose
    assert _verdict(['{"type": "Terminated", "reason": "OOMKilled", "exitCode": 137}',
                     _TIMEOUT.format(r=0)])[:2] == ("STOP", "host")


def test_a_reclaimed_spot_vm_is_a_node_failure_of_that_node() -> None:
    lines = [
        _TIMEOUT.format(r=0),
        "$ kubectl describe pod llama-pt-workers-0-3-8kzq2",
        "Reason:           Terminated",
        "Message:          Pod was terminated in response to imminent node shutdown.",
    ]
    assert _verdict(lines) == ("RESTART", "scheduler", [], ["llama-pt-workers-0-3-8kzq2"])
    gcloud = ("systemevent-17320 compute.instances.preempted us-central1-a/instances/gke-a3-x7kq"
              "  200  DONE  2024-11-19T03:43:01.817-08:00")
    assert _verdict([_TIMEOUT.format(r=0), gcloud])[:2] == ("RESTART", "scheduler")
    bug = ["[rank3]: Traceback (most recent call last):", "[rank3]: ValueError: bad config key"]
    for prose in ("I don't think the node is being preempted, it's on-demand.",
                  "We are not on spot instances, so no preemption/interruption here.",
                  "Not an imminent node shutdown: the node is still Ready.",
                  "Our spot VMs get preempted sometimes but this is different:"):
        # talk of preemption does not hide the bug (a RESTART into the same bug)
        assert _verdict([prose, *bug]) == ("STOP", "user_code", [3], []), prose


def test_megatrons_nan_message_names_its_node_and_a_fqdn_is_shortened() -> None:
    lines = [
        "[rank27]: AssertionError: Rank 27: found NaN in local grad norm in backward pass before "
        "data-parallel communication collective. Device: 3, node: jwb0417.juwels",
        "srun: error: jwb0417: task 3: Exited with exit code 1",
    ]
    assert _verdict(lines) == ("STOP", "numerical", [27], ["jwb0417"])
    assert _verdict(lines[:1]) == ("STOP", "numerical", [27], ["jwb0417.juwels"])


def test_ssh_runs_its_command_on_the_host_it_names() -> None:
    assert prompt_host("[ops@neox-g01 ~]$ ssh neox-g04 'sudo dmesg -T | tail -4'") == "neox-g04"
    assert prompt_host("ops@head:~$ ssh -p 2222 -o BatchMode=yes admin@gpu-3 dmesg") == "gpu-3"
    assert prompt_host("ops@head:~$ ssh") == ""  # no host: no output of a host
    assert ssh_host("$ ssh dgx-h105 'sudo dmesg -T | grep -E \"NVRM|Xid\"'") == "dgx-h105"
    assert ssh_host("$ sinfo -R -n dgx-h[101-108]") == ""  # another bare command
    assert ssh_host("ssh dgx-h105 dmesg") is None  # prose, no command line


def _gpu_init(task: int, host: str, pid: int, rank: int) -> str:
    return (f"{task}: {host}:{pid}:{pid + 300} [5] NCCL INFO comm 0x5634ad07fec1 rank {rank} "
            "nranks 64 cudaDev 5 nvmlDev 5 busId ab000 commId 0x7d31c09e5a21f4b6 - Init COMPLETE")


def test_an_xid_on_a_host_names_the_rank_whose_gpu_has_that_pci_address() -> None:
    def verdict(before_dmesg: list[str]) -> tuple[str, str, list[int], list[str]]:
        return _verdict([
            _gpu_init(5, "dgx-h101", 72768, 5), _gpu_init(37, "dgx-h105", 93003, 37),
            *before_dmesg,
            "[Fri Apr 12 04:31:23 2024] NVRM: Xid (PCI:0000:ab:00): 79, pid='<unknown>', "
            "name=<unknown>, GPU has fallen off the bus.",
        ])
    assert verdict(["$ ssh dgx-h105 'sudo dmesg -T | grep -E \"NVRM|Xid\"'"]) \
        == ("RESTART", "gpu_hardware", [37], ["dgx-h105"])
    assert verdict(["$ ssh dgx-h105 'sudo dmesg -T | tail -n 12'"]) \
        == ("RESTART", "gpu_hardware", [37], ["dgx-h105"])  # (no keyword on the command)
    # another bare command line ends what the ssh printed: no host, no rank
    assert verdict(["$ ssh dgx-h105 hostname", "dgx-h105", "$ cat dmesg-saved.txt"]) \
        == ("RESTART", "gpu_hardware", [], [])


def test_what_ssh_printed_ends_with_a_code_block() -> None:
    oom = "[rank3]:torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB."
    lines = ["$ ssh dgx-h105 'sudo dmesg -T | tail -n 3'", "[Fri Apr 12 04:31:23 2024] eth0: up",
             "", "Training log (from the shared fs, rank 3 first):", "```", oom, "```"]
    assert _verdict(lines)[2:] == ([3], [])


def test_a_kernel_line_naming_a_gpu_by_its_pci_address_names_its_rank() -> None:
    assert _verdict([_gpu_init(37, "dgx-h105", 93003, 37),
                     "Apr 12 04:31:23 dgx-h105 kernel: NVRM: GPU 0000:ab:00.0: GPU has fallen off "
                     "the bus."])[2:] == ([37], ["dgx-h105"])

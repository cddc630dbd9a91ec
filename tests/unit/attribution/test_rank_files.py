"""A paste of per-rank log files: the header naming one rank's file gives the rank of the lines
below it, and a worker's own `rank=.. host=..` line gives that rank's node."""

from __future__ import annotations

import pytest

from resilience.attribution.rankfile import file_header, rank_identity, rank_title

from .conftest import category_culprits as _verdict


@pytest.mark.parametrize(("line", "rank"), [
    ("==> user_logs/std_log_process_12.txt <==", 12),
    ("===== user_logs/std_log_process_09.txt (tail) =====", 9),
    ("user_logs/std_log_process_0.txt (tail):", 0),
    ("user_logs/std_log_process_00.txt (trimmed, it's 40k lines):", 0),
    ("---------- user_logs/std_log_process_27.txt ----------", 27),
    ("==> /checkpoint/ylin/dinov2/vitl14_lvd/2311842_5_log.err <==", 5),
    ("### logs/rank_3.log", 3),
    ("`logs/log_rank14.txt`:", 14),
    ("==> logs/node_rank1.log <==", None),  # a node rank's file
    ("==> logs/local_rank_3.log <==", None),  # a local rank's
    ("==> logs/gpu-n10.log <==", None),
    ("user_logs/std_log_process_13.txt is different, it stops ~30 min earlier:", 13),
    ("Please check log file 'user_logs/std_log_process_00.txt' for error details.", None),
    ("==> user_logs/std_log_process_3.txt and std_log_process_4.txt <==", None),  # two files
    ("2311842_5_log.err", None),  # no header: a file name alone
    ("user_logs/std_log_process_19.txt (head + tail)", 19),  # with a note: a header
    ("see user_logs/std_log_process_19.txt (head + tail)", None),  # prose without a colon
])
def test_a_header_naming_one_ranks_own_file(line: str, rank: int | None) -> None:
    titled = rank_title(line)
    assert (titled[0] if titled else None) == rank


@pytest.mark.parametrize(("line", "named"), [
    ("[2023-11-19 22:41:09] INFO  rank=12 local_rank=4 world_size=16 "
     "host=b1a7e4c2d09f4e61a5c3e2f71d8c9a04000001", (12, "b1a7e4c2d09f4e61a5c3e2f71d8c9a04000001")),
    ("rank 0/16 local_rank 0 host 7e21c0b5d4f34e1a9b6c83d2f05a4e19000000",
     (0, "7e21c0b5d4f34e1a9b6c83d2f05a4e19000000")),
    ("submitit INFO (2023-09-18 03:11:02,552) - Starting with JobEnvironment(job_id=2311842, "
     "hostname=node-a100-117, local_rank=1(4), node=1(2), global_rank=5(8))",
     (5, "node-a100-117")),
    ("rank 3 lost its connection to host gpu-02", None),  # prose about another host
    ("rank=3 local_rank=3 host=localhost", None),  # no host name
    ("rank=3 rank=4 host=gpu-02", None),  # two ranks
])
def test_a_workers_line_naming_its_rank_and_host(line: str,
                                                 named: tuple[int, str] | None) -> None:
    assert rank_identity(line) == named


def _azureml(section_end: list[str]) -> list[str]:
    return [
        "user_logs/std_log_process_9.txt (tail):",
        "```",
        "rank 9/16 local_rank 1 host 7e21c0b5d4f34e1a9b6c83d2f05a4e19000001",
        "[rank9]:[E ProcessGroupNCCL.cpp:523] [Rank 9] Watchdog caught collective operation "
        "timeout: WorkNCCL(SeqNum=492188, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, "
        "Timeout(ms)=1800000) ran for 1800276 milliseconds before timing out.",
        "```",
        "user_logs/std_log_process_0.txt (tail):",
        "```",
        "rank 0/16 local_rank 0 host 7e21c0b5d4f34e1a9b6c83d2f05a4e19000000",
        "Saving model checkpoint to ./outputs/ckpt/checkpoint-2000",
        *section_end,
    ]


_NO_SPACE = ('safetensors_rust.SafetensorError: Error while serializing: IoError(Os { code: '
             '28, kind: StorageFull, message: "No space left on device" })')


def test_an_error_in_a_ranks_own_file_is_that_ranks_on_the_node_it_names() -> None:
    lines = _azureml(["Traceback (most recent call last):", _NO_SPACE, "```"])
    assert _verdict(lines) == ("storage", [0], ["7e21c0b5d4f34e1a9b6c83d2f05a4e19000000"])


def test_the_file_ends_with_its_code_block() -> None:
    # the same error quoted again after the block (a job overview) is nobody's in particular
    lines = _azureml(["```", "Job overview error:", _NO_SPACE])
    assert _verdict(lines) == ("storage", [], [])


def test_a_hosts_kernel_log_below_a_ranks_file_is_not_that_ranks() -> None:
    # no fences: a node's syslog pasted after the last file is that node's, its pid's rank's
    lines = [
        "---------- user_logs/std_log_process_27.txt ----------",
        "e4b1c9a27d3f4e0c8a5b6d2f1e7c9a30000003:23411:23511 [3] NCCL INFO comm 0x55f1d0c3a2e0 "
        "rank 27 nranks 32 cudaDev 3 busId 400000 commId 0x61b7e0f39d2c4a85 - Init COMPLETE",
        "---------- user_logs/std_log_process_0.txt ----------",
        "[rank0]:[E ProcessGroupNCCL.cpp:523] [Rank 0] Watchdog caught collective operation "
        "timeout: WorkNCCL(SeqNum=391742, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, "
        "Timeout(ms)=1800000) ran for 1800477 milliseconds before timing out.",
        "Azure support sent us this from the node's kernel log:",
        "Feb 07 09:41:27 e4b1c9a27d3f4e0c8a5b6d2f1e7c9a30000003 kernel: NVRM: Xid "
        "(PCI:0004:00:00): 79, pid=23411, name=python, GPU has fallen off the bus.",
    ]
    assert _verdict(lines) == ("gpu_hardware", [27], ["e4b1c9a27d3f4e0c8a5b6d2f1e7c9a30000003"])


def test_a_hosts_kernel_line_without_a_pid_below_a_ranks_file_names_only_the_host() -> None:
    lines = [
        "---------- user_logs/std_log_process_0.txt ----------",
        "[rank0]:[E ProcessGroupNCCL.cpp:523] [Rank 0] Watchdog caught collective operation "
        "timeout: WorkNCCL(SeqNum=391742, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, "
        "Timeout(ms)=1800000) ran for 1800477 milliseconds before timing out.",
        "Feb 07 09:41:27 e4b1c9a27d3f4e0c8a5b6d2f1e7c9a30000003 kernel: NVRM: Xid "
        "(PCI:0004:00:00): 79, pid=*, name=python, GPU has fallen off the bus.",
    ]
    assert _verdict(lines) == ("gpu_hardware", [], ["e4b1c9a27d3f4e0c8a5b6d2f1e7c9a30000003"])


def test_a_workers_environment_line_names_its_node_even_with_a_keyword_of_its_own() -> None:
    # `NODE_RANK=` makes the line a candidate line, not one between the candidates
    lines = [
        "===== user_logs/std_log_process_00.txt =====",
        "[2024-04-11 08:14:02] RANK=0 LOCAL_RANK=0 WORLD_SIZE=16 NODE_RANK=0 "
        "MASTER_ADDR=10.0.0.5 MASTER_PORT=6105 host=7c1e40b2a95d4f3e8b6a0d2c9f1e3a57000000",
        "torch.distributed.DistNetworkError: The server socket has failed to listen on any "
        "local network address. The server socket has failed to bind to [::]:6105 (errno: 98 "
        "- Address already in use).",
    ]
    assert _verdict(lines) == ("rendezvous", [0], ["7c1e40b2a95d4f3e8b6a0d2c9f1e3a57000000"])


_ECC = "RuntimeError: CUDA error: uncorrectable ECC error encountered"


def test_prose_naming_a_ranks_file_titles_the_code_block_after_it() -> None:
    lines = ["user_logs/std_log_process_13.txt is different, it stops ~30 min earlier:", "",
             "```", "[init] rank=13 local_rank=5 world_size=16 host=a7c29e51d3f0000001", _ECC,
             "```"]
    assert _verdict(lines) == ("gpu_hardware", [13], ["a7c29e51d3f0000001"])
    noted = ["user_logs/std_log_process_13.txt (head + tail)", *lines[1:]]
    assert _verdict(noted) == ("gpu_hardware", [13], ["a7c29e51d3f0000001"])
    assert _verdict(["user_logs/std_log_process_13.txt (head + tail)", "", _ECC]) == (
        "gpu_hardware", [], [])  # no code block after it


def test_prose_naming_a_ranks_file_without_a_code_block_titles_nothing() -> None:
    # where its lines end is unknown: the error may be another file's, pasted further down
    lines = ["So I opened user_logs/std_log_process_00.txt, last lines:", "",
             "[2024-02-08 19:44:11] step 61860 | loss 1.6702", "",
             "Only one other file is different, it ends with:", "", _ECC]
    assert _verdict(lines) == ("gpu_hardware", [], [])


_XID = ("[Fri Apr 12 04:31:23 2024] NVRM: Xid (PCI:0000:ab:00): 79, pid='<unknown>', "
        "name=<unknown>, GPU has fallen off the bus.")


def test_another_files_header_ends_a_ranks_file() -> None:
    lines = ["==> logs/rank_3.log <==", "step 100 loss 2.1", "==> logs/dmesg-node2.txt <==", _XID]
    assert _verdict(lines) == _verdict([_XID]) == ("gpu_hardware", [], [])
    framed = ["---------- logs/rank_3.log ----------", "step 100 loss 2.1",
              "---------- logs/dmesg-node2.txt ----------", _XID]
    assert _verdict(framed) == ("gpu_hardware", [], [])


def test_a_host_qualified_as_the_masters_is_no_workers_own() -> None:
    for line in ("init_distributed: rank=5 world_size=16 master host gpu-a01 port 29500",
                 "Elected rank 0 as master, host=gpu-a01",
                 "dist init: MASTER host=gpu-a01, rank=12",
                 "TCPStore rank 5 waiting for host gpu-a01"):
        assert rank_identity(line) is None, line
    assert rank_identity("RANK=0 NODE_RANK=0 MASTER_ADDR=10.0.0.5 MASTER_PORT=6105 host=gpu-a02") \
        == (0, "gpu-a02")


def test_a_file_header_names_a_file_and_a_rule_of_dashes_is_none() -> None:
    assert file_header("==> logs/dmesg-node2.txt <==")
    assert file_header("---------- logs/dmesg-node2.txt ----------")
    assert not file_header("------------------------------------------------------------")
    assert not file_header("user_logs/std_log_process_13.txt is different:")  # prose


def test_composers_dump_of_a_failed_workers_stderr_is_that_ranks() -> None:
    nan = "RuntimeError: Loss is NaN at batch 13187 (NanLossGuard), aborting"
    dump = ["ERROR:composer.cli.launcher:Rank 13 crashed with exit code 1.",
            "----------Begin global rank 13 STDERR----------",
            "Traceback (most recent call last):", nan,
            "----------End global rank 13 STDERR----------"]
    assert _verdict(dump) == ("numerical", [13], [])
    assert rank_title("----------End global rank 13 STDERR----------") is None
    assert rank_title("2024-05-20T16:41:10.604Z ----------Begin global rank 13 STDERR---------"
                      "-") == (13, False)  # behind a prefix
    assert file_header("----------End global rank 13 STDERR----------")
    after = ["----------Begin global rank 13 STDOUT----------", "step 13186 loss 2.4",
             "----------End global rank 13 STDOUT----------", nan]
    assert _verdict(after) == ("numerical", [], [])  # its dump has ended

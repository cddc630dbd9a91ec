from __future__ import annotations

import pytest

from resilience.attribution.lines import find_timestamp, parse_line


@pytest.mark.parametrize(("line", "rank", "host", "content"), [
    ("[rank3]:[E1021 08:14:07.512 ProcessGroupNCCL.cpp:616] [Rank 3] Watchdog x", 3, None,
     "Watchdog x"),
    ("[default5]:ValueError: bad", None, None, "ValueError: bad"),  # a local rank: below
    ("12: KeyError: 'a'", 12, None, "KeyError: 'a'"),
    ("[RANK 7] RuntimeError: x", 7, None, "RuntimeError: x"),
    ("[1,4]<stderr>:TypeError: y", 4, None, "TypeError: y"),
    ("node-01:1234:1290 [0] NCCL WARN NET/IB : x", None, "node-01", "NCCL WARN NET/IB : x"),
    ("Oct 23 10:11:12 node-0042 kernel: NVRM: Xid 79", None, "node-0042", "NVRM: Xid 79"),
    ("srun: error: node-5: task 17: Killed", 17, "node-5", "srun: error: node-5: task 17: Killed"),
    ("slurmstepd: error: *** JOB 9 ON gpu-3 CANCELLED AT 2024-01-01T00:00:00 ***", None, "gpu-3",
     "slurmstepd: error: *** JOB 9 ON gpu-3 CANCELLED AT 2024-01-01T00:00:00 ***"),
    ("ValueError: 3: not a prefix", None, None, "ValueError: 3: not a prefix"),
    # pdsh's host before a shell's trace of the command it ran (`bash -x`)
    ("hpc-c08: + torchrun --node_rank 1 x.py", None, "hpc-c08", "+ torchrun --node_rank 1 x.py"),
    # a log collector's export: RFC 3339 UTC time, the pod, two spaces
    ("2024-09-18T03:14:02.377Z llama-workers-2-0-c6v9s  [rank21]: RuntimeError: x", 21,
     "llama-workers-2-0-c6v9s", "RuntimeError: x"),
    ("2024-09-18T03:14:06.288Z llama-workers-2-0-c6v9s    host      : gke-a3-pool-k9wx", None,
     "llama-workers-2-0-c6v9s", "host      : gke-a3-pool-k9wx"),
    ("2024-09-18T03:14:02.377Z multi-node run  [rank2]: x", None, None,
     "multi-node run  [rank2]: x"),  # a word, a space: prose, not a pod
    # the same export with tabs
    ("2024-06-11T14:01:51.876120Z\tllama-ft-workers-0-0-4cz8n\t[rank3]: x", 3,
     "llama-ft-workers-0-0-4cz8n", "x"),
    # Vertex AI's stream-logs: severity, time, replica; `service` is Vertex's own
    ("ERROR\t2024-05-14 01:31:02 +0000\tworkerpool1-1\tRuntimeError: x", None, "workerpool1-1",
     "RuntimeError: x"),
    ("ERROR\t2024-05-14 01:31:02 +0000\tservice\tThe replica workerpool0-0 exited", None, None,
     "ERROR\t2024-05-14 01:31:02 +0000\tservice\tThe replica workerpool0-0 exited"),
    # Logs Explorer's copy: severity letter, time, replica
    ("E 2024-08-02T12:07:32.014Z workerpool0-0 train.py: error: unrecognized arguments: --x",
     None, "workerpool0-0", "train.py: error: unrecognized arguments: --x"),
    ("ERROR   2024-08-21T08:36:53.486Z  workerpool1-2 RuntimeError: x", None, "workerpool1-2",
     "RuntimeError: x"),  # ... with the severity's word
    # `kubectl get events`: the pod the event is about
    ("16m  Warning   NodeShutdown  pod/llama-ft-workers-0-2-8xkqz   Pod was terminated", None,
     "llama-ft-workers-0-2-8xkqz",
     "16m  Warning   NodeShutdown  pod/llama-ft-workers-0-2-8xkqz   Pod was terminated"),
])
def test_prefixes(line: str, rank: int | None, host: str | None, content: str) -> None:
    info = parse_line(line)
    assert (info.rank, info.host, info.content) == (rank, host, content)


def test_timestamps_sort_across_formats() -> None:
    glog = parse_line("[E1021 08:14:07.512 x.cpp:1] a").timestamp
    iso = parse_line("[2024-10-21 08:14:09,000] b").timestamp
    syslog = parse_line("Oct 21 08:14:08 host kernel: c").timestamp
    assert glog is not None and iso is not None and syslog is not None
    assert glog < syslog < iso
    assert find_timestamp("time : 2024-10-21_08:14:07") == pytest.approx(glog - 0.512)
    assert find_timestamp("no time here") is None
    # torch's own logger writes a month below 10 with one digit: `[E919 ...]` is September 19
    september = parse_line("[rank1]:[E919 10:44:38.120 ProcessGroupNCCL.cpp:607] [Rank 1] x")
    assert september.timestamp == pytest.approx(find_timestamp("2024-09-19_10:44:38.120"))
    assert (september.rank, september.content) == (1, "x")


def test_torchrun_tee_prefix_is_a_local_rank_and_an_inner_rank_prefix_wins() -> None:
    info = parse_line("[default5]:ValueError: bad")
    assert (info.rank, info.local_rank) == (None, 5)
    info = parse_line("[default1]:[rank9]: ValueError: bad")
    assert (info.rank, info.local_rank, info.content) == (9, 1, "ValueError: bad")


def test_another_process_groups_rank_is_not_a_global_rank() -> None:
    assert parse_line("[E ProcessGroupNCCL.cpp:1316] [PG 2 Rank 6] Process group watchdog").rank \
        is None
    assert parse_line("[PG 0 (default_pg) Rank 2] Process group watchdog").rank == 2
    info = parse_line("14: [PG 2 Rank 6] Process group watchdog thread terminated")
    assert (info.rank, info.task, info.rank_is_task) == (14, 14, True)


def test_olmo_prefix_is_a_host_and_a_local_rank() -> None:
    # OLMo's `%(asctime)s\t%(hostname)s:%(local_rank)s\t%(name)s:%(lineno)s\t%(levelname)s\t`
    info = parse_line("2024-02-08 17:21:10.142\tjup-a112:6\tolmo.util:158\tCRITICAL\tUncaught "
                      "DistBackendError: NCCL error")
    assert (info.rank, info.local_rank, info.host) == (None, 6, "jup-a112")
    assert info.content == "Uncaught DistBackendError: NCCL error"
    assert info.timestamp == parse_line("[2024-02-08 17:21:10.142] x").timestamp

"""Launchers' own records of which worker failed: they name a culprit when the root line does
not carry a rank.

* torchelastic's `ChildFailedError` summary: the `Root Cause (first observed failure):` entry
  and the entries of its `Failures:` list (`[1]:` then `time`, `host`, `rank`, `exitcode`,
  `error_file` fields);
* the torchelastic agent's `failed (exitcode: -6) local_rank: 5 (pid: 24411) of binary: ...`:
  a local rank and its pid;
* srun's `srun: error: host: task N: Exited with exit code K` (or `Aborted`, `Killed`, ...) for
  one task: a task that ended by itself. `tasks 0-7: Terminated` is srun stopping the others.
* the DeepSpeed launcher's `[launch.py:321:sigkill_handler] [...] exits with return code = 1`:
  the host of the line (pdsh prefix) had a worker fail. Not which one: the command it prints
  is the last one the launcher spawned (`--local_rank=7` of 8), whichever worker failed.
* `torch.multiprocessing.spawn`'s `-- Process 2 terminated with the following error:`: a local
  process index (the global rank on a log that shows one node).
* Ray Train's `RayTaskError(TypeError): ray::_RayTrainWorker__execute...() (pid=41233,
  ip=10.0.3.17, ...)`: a worker's pid (its rank from Ray's worker table) and its node's IP.
* composer's launcher: `Global rank 5 (PID 40127) exited with code 1` for each worker as it
  exits (the first with a code above 0 is the one that failed; the others it stops, -15).
* Open MPI's `mpirun`: the first process to exit with an error (`Process name: [[41827,1],18]`
  under "The first process to do so was:"; its exit code is on a line of its own), or the one
  a signal ended (`mpirun noticed that process rank 18 with PID 382 on node algo-3 exited on
  signal 9 (Killed).`): an MPI rank, the global one (a node index when mpirun started a
  torchrun per node: `CycleState` then drops it).
"""

from __future__ import annotations

import re
from typing import Literal

from .digest import ElasticRoot
from .lines import find_timestamp, parse_line

__all__ = ["agent_exit", "composer_exit", "deepspeed_exit", "elastic_entries", "mpirun_exit",
           "rank_mapping", "ray_exit", "spawn_exit", "srun_exit"]

_FIELD = re.compile(r"^(time|host|rank|exitcode|error_file)\s{0,12}:\s{0,4}(.{0,512})$")
_ENTRY = re.compile(r"^\[\d{1,6}\]:$")
_INT = re.compile(r"-?\d{1,9}")
_PID = re.compile(r"\(pid: ?(\d{1,9})\)")
_LOCAL = re.compile(r"local_rank:? ?(\d{1,6})")  # `rank : 14 (local_rank: 6)`
_MAX_TEXT = 4096
_SRUN = re.compile(
    r"srun: error: ([\w.-]{1,80}): task (\d{1,6}): (?:Exited with exit code (\d{1,3})"
    r"|(Aborted|Segmentation fault|Bus error|Killed|Out Of Memory))")
# the signal each srun wording stands for (`Out Of Memory`: the cgroup's OOM killer, SIGKILL)
_SIGNALS = {"Aborted": -6, "Segmentation fault": -11, "Bus error": -7, "Killed": -9,
            "Out Of Memory": -9}
_DEEPSPEED = re.compile(
    r"'--local_rank=(\d{1,6})'.{0,3000}?\] exits with return code = (-?\d{1,4})")
_AGENT = re.compile(r"failed \(exitcode: (-?\d{1,4})\) local_rank: (\d{1,6}) \(pid: (\d{1,9})\)")
_RAY = re.compile(r"RayTaskError\(\w{1,80}\): ray::_RayTrainWorker[^\n]{0,200}?\(pid=(\d{1,9}), "
                  r"ip=([\w.:-]{1,80})")
_SPAWN = re.compile(r"^-- Process (\d{1,6}) terminated with the following error")
_MPIRUN = re.compile(r"^\s{0,8}Process name: \[\[\d{1,9},\d{1,6}\],(\d{1,7})\]\s{0,8}$"
                     r"|mpirun noticed that process rank (\d{1,7}) with PID (\d{1,9}) on node "
                     r"([\w.-]{1,80}) exited on signal (\d{1,2})")
_COMPOSER = re.compile(r"\bGlobal rank (\d{1,7}) \(PID (\d{1,9})\) exited with code (-?\d{1,4})")
_MAPPING = re.compile(r"'([\w.-]{1,80})': \[((?:\d{1,6}, ){0,1023}\d{1,6})\]")


def elastic_entries(lineno: int, following: list[str], header: str,
                    source: Literal["root_cause", "failure"]) -> list[ElasticRoot]:
    """The entries after a `Root Cause (first observed failure):` or `Failures:` header at
    line `lineno`; `following` are the lines after it."""
    entries: list[dict[str, str]] = []
    for line in following:
        content = parse_line(line[:1024]).content.strip()
        if content.startswith(("====", "----")):  # the block's end (or `<NO_OTHER_FAILURES>`'s)
            break
        if _ENTRY.match(content) or not entries:
            entries.append({})
        if m := _FIELD.match(content):
            entries[-1][m.group(1)] = m.group(2).strip()
    text = header.rstrip("\r\n")[:_MAX_TEXT]  # evidence: the header, at its line
    return [_entry(lineno, fields, text, source) for fields in entries if fields]


def _entry(line: int, fields: dict[str, str], text: str,
           source: Literal["root_cause", "failure"]) -> ElasticRoot:
    rank_m = _INT.search(fields.get("rank", ""))
    local_m = _LOCAL.search(fields.get("rank", ""))
    code_m = _INT.search(fields.get("exitcode", ""))
    pid_m = _PID.search(fields.get("exitcode", ""))  # `-6 (pid: 24411)`
    error_file = fields.get("error_file")
    return ElasticRoot(
        source=source, line=line, rank=int(rank_m.group()) if rank_m else None,
        local_rank=int(local_m.group(1)) if local_m else None,
        host=fields.get("host") or None, exitcode=int(code_m.group()) if code_m else None,
        pid=int(pid_m.group(1)) if pid_m else None,
        timestamp=find_timestamp(fields.get("time", "")),
        error_file=None if not error_file or error_file == "<N/A>" else error_file,
        text=text,
    )


def srun_exit(content: str, raw: str, lineno: int) -> ElasticRoot | None:
    """srun's record of one task that ended by itself with an error, if `content` is one."""
    m = _SRUN.search(content)
    if m is None:
        return None
    code = int(m.group(3)) if m.group(3) else _SIGNALS[m.group(4)]
    if code == 0:
        return None
    return ElasticRoot(source="srun", line=lineno, rank=int(m.group(2)), host=m.group(1),
                       exitcode=code, text=raw.rstrip("\r\n")[:_MAX_TEXT])


def deepspeed_exit(content: str, raw: str, lineno: int, host: str | None,
                   timestamp: float | None) -> ElasticRoot | None:
    """The DeepSpeed launcher's record of a worker that exited with an error on `host` (the
    `--local_rank` it prints is its last spawned command's, not the failed worker's)."""
    m = _DEEPSPEED.search(content)
    if m is None or int(m.group(2)) == 0:
        return None
    return ElasticRoot(source="deepspeed", line=lineno, host=host,
                       exitcode=int(m.group(2)), timestamp=timestamp,
                       text=raw.rstrip("\r\n")[:_MAX_TEXT])


def rank_mapping(content: str) -> dict[str, list[int]]:
    """host -> its global ranks in order, from DeepSpeed's `global_rank_mapping=...` line."""
    return {m.group(1): [int(r) for r in m.group(2).split(", ")]
            for m in _MAPPING.finditer(content)}


def spawn_exit(content: str, raw: str, lineno: int, host: str | None) -> ElasticRoot | None:
    """`torch.multiprocessing.spawn`'s record of the process that raised (a local index)."""
    m = _SPAWN.match(content)
    if m is None:
        return None
    return ElasticRoot(source="spawn", line=lineno, local_rank=int(m.group(1)), host=host,
                       exitcode=1, text=raw.rstrip("\r\n")[:_MAX_TEXT])


def agent_exit(content: str, raw: str, lineno: int, host: str | None,
               timestamp: float | None) -> ElasticRoot | None:
    """The torchelastic agent's line for a worker that failed (a local rank and its pid)."""
    m = _AGENT.search(content)
    if m is None:
        return None
    return ElasticRoot(source="failure", line=lineno, local_rank=int(m.group(2)), host=host,
                       exitcode=int(m.group(1)), pid=int(m.group(3)), timestamp=timestamp,
                       text=raw.rstrip("\r\n")[:_MAX_TEXT])


def composer_exit(content: str, raw: str, lineno: int, host: str | None) -> ElasticRoot | None:
    """composer's launcher's record of a worker that exited with an error code or signal."""
    m = _COMPOSER.search(content)
    if m is None or int(m.group(3)) == 0:
        return None
    return ElasticRoot(source="composer", line=lineno, rank=int(m.group(1)), host=host,
                       pid=int(m.group(2)), exitcode=int(m.group(3)),
                       text=raw.rstrip("\r\n")[:_MAX_TEXT])


def mpirun_exit(content: str, raw: str, lineno: int) -> ElasticRoot | None:
    """Open MPI's record of the first rank that failed, if `content` is one."""
    m = _MPIRUN.search(content)
    if m is None:
        return None
    if m.group(1):  # its exit code is on a line of its own, below
        return ElasticRoot(source="mpirun", line=lineno, rank=int(m.group(1)),
                           text=raw.rstrip("\r\n")[:_MAX_TEXT])
    return ElasticRoot(source="mpirun", line=lineno, rank=int(m.group(2)), pid=int(m.group(3)),
                       host=m.group(4), exitcode=-int(m.group(5)),
                       text=raw.rstrip("\r\n")[:_MAX_TEXT])


def ray_exit(content: str, raw: str, lineno: int) -> ElasticRoot | None:
    """Ray Train's record of the worker whose task raised (its pid and node IP)."""
    m = _RAY.search(content)
    if m is None:
        return None
    return ElasticRoot(source="ray", line=lineno, pid=int(m.group(1)), host=m.group(2),
                       exitcode=1, text=raw.rstrip("\r\n")[:_MAX_TEXT])

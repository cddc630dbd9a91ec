"""Reading one log line: rank / host / timestamp prefixes, and the content behind them.

Understood prefixes (any order, repeated): srun `-l` (`3: `), torchrun tee (`[rank3]:`,
`[default3]:`), mpirun tags (`[1,3]<stderr>:`, SageMaker's `[1,mpirank:3,algo-1]<stderr>:`),
`[RANK 3]`, glog headers
(`[E1023 10:11:12.1 f.cpp:1]`, `E1023 10:11:12.1 123 f.py:1]`), bracketed or bare ISO
timestamps, dmesg `[123.4]`, syslog (`Oct 23 10:11:12 host kernel:`), NCCL `host:pid:tid [dev]`,
pdsh `host: `, a collector's `[host] ` (a host shape: `[cn-gpu-19] `, not `[iter4200] `),
Kubernetes pod prefixes (`kubectl logs --prefix`'s `[pod/NAME/CONTAINER] `, stern's
`NAME CONTAINER `, a collector's `2024-09-18T03:14:02.377Z NAME  `), Ray's
`(RayTrainWorker pid=4410, ip=10.0.3.14) ` (the worker's pid, and its node's IP as the host
unless a later prefix names a host), tab-separated columns (OLMo's `host:local_rank`, Vertex
AI's replica, a collector's pod) and Logs Explorer's `E <time> <replica> `. A paste indented
by a ticket or
a mail keeps its prefixes (`    [rank6]: ...`). Terminal colour codes are dropped.
"""

from __future__ import annotations

import re
from typing import NamedTuple

__all__ = ["IP", "PID_IN_TEXT", "LineInfo", "find_timestamp", "parse_line", "pid_of"]

_MONTHS = {m: i for i, m in enumerate(
    ("Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"), 1)}
_ISO = r"(\d{4})-(\d\d)-(\d\d)[T _](\d\d):(\d\d):(\d\d(?:[.,]\d{1,9})?)"

# Each prefix regex is anchored at the start and bounded; groups are read by name.
_PREFIXES = tuple(re.compile(rx) for rx in (
    r"^\s{0,4}(?P<task>\d{1,6}): ",
    r"^\[rank(?P<rank>\d{1,6})\]:",
    r"^\[[A-Za-z_]{1,24}?(?P<local>\d{1,6})\]:",  # torchrun --tee: [{role}{local_rank}]:
    r"^\[\d{1,9},(?P<rank>\d{1,6})\]<std(?:out|err)>:",
    # SageMaker's mpirun tags: [1,mpirank:13,algo-2]<stderr>:
    r"^\[\d{1,9},mpirank:(?P<mrank>\d{1,6}),(?P<mhost>[\w.-]{1,80})\]<std(?:out|err)>:",
    r"^\[[Rr](?:ANK|ank) ?(?P<rank>\d{1,6})\]:? ?",
    r"^\[?(?P<lvl>[IWEF])(?P<gmon>\d\d?)(?P<gday>\d\d) (?P<gtime>\d\d:\d\d:\d\d(?:\.\d{1,9})?)"
    r"[^\]\n]{0,160}\] ?",
    r"^\[" + _ISO + r"[^\]]{0,12}\] ?",
    # a log collector's export (GKE / Cloud Logging, `kubectl logs --timestamps` per pod):
    # `2024-09-18T03:14:02.377Z POD-NAME  ...`, the pod (a dashed name) then two spaces, or
    # tab-separated columns
    r"^" + _ISO.replace("[T _]", "T")
    + r"Z[ \t](?P<thost>[a-z0-9][a-z0-9.]{0,120}-[a-z0-9.-]{1,120})(?:  |\t)",
    # OLMo's `2024-02-08 17:21:10.142<TAB>jup-a112:6<TAB>olmo.util:158<TAB>CRITICAL<TAB>`: the
    # host and the local rank
    r"^" + _ISO + r"\t(?P<ohost>[\w.-]{1,120}):(?P<olocal>\d{1,3})\t"
    r"[\w.]{1,80}:\d{1,9}\t(?:DEBUG|INFO|WARNING|ERROR|CRITICAL)\t",
    # Vertex AI's `gcloud ai custom-jobs stream-logs`: `ERROR<TAB>2024-05-14 01:31:02 +0000<TAB>
    # workerpool1-1<TAB>`, the replica (a name with a digit; `service` is Vertex's own); Logs
    # Explorer's copy: `E 2024-08-02T12:07:32.014Z workerpool0-0 ` (or `ERROR   <time>  <replica> `)
    r"^(?:DEBUG|INFO|NOTICE|WARNING|ERROR|CRITICAL|DEFAULT)\t" + _ISO
    + r"(?: ?[+-]\d\d:?\d\d|Z)?\t(?P<vhost>[a-z][\w.-]{0,120}\d[\w.-]{0,40})\t",
    r"^(?:[DIWEC]|DEBUG|INFO|NOTICE|WARNING|ERROR|CRITICAL|DEFAULT) {1,8}"
    + _ISO.replace("[T _]", "T")
    + r"(?:Z|[+-]\d\d:?\d\d) {1,4}(?P<xhost>[a-z][\w.-]{0,120}\d[\w.-]{0,40}) ",
    r"^" + _ISO + r"(?:Z|[+-]\d\d:?\d\d)?(?: ?\| ?| {1,3})",
    r"^\[ {0,8}\d{1,9}\.\d{1,9}\] ?",
    r"^(?P<smon>[A-Z][a-z]{2}) {1,2}(?P<sday>\d{1,2}) (?P<stime>\d\d:\d\d:\d\d) "
    r"(?P<shost>[\w.-]{1,80}) (?:kernel: )?",
    r"^(?P<nhost>[\w.-]{1,80}):(?P<npid>\d{1,9}):\d{1,9} \[\d{1,4}\] ",
    # pdsh `host: `, before a prefix (NCCL's too), a number, a shell's trace of a command
    # (`+ torchrun ...`) or a Python error line (not `python3: can't ...`)
    r"^(?P<phost>[a-z][\w.-]{0,60}\d): (?=\[|\d|\+ |Traceback|[\w.-]{1,80}:\d{1,9}:\d{1,9} \["
    r"|(?:[a-z_][\w]{0,40}\.){0,6}[A-Z]\w{0,60}(?:Error|Exception)\b)",
    # a collector's `[host] ` (pssh-style pastes): lowercase, ends in a digit, no colon
    r"^\[(?P<bhost>[a-z][a-z0-9]{0,30}[-.][\w.-]{0,60}\d)\] ",  # a host shape: `cn-gpu-19`
    # Kubernetes: `kubectl logs --prefix` (`[pod/NAME/CONTAINER] `), and stern's `POD CONTAINER `
    # (a pod name with a dash) before a prefix, a traceback, an error line or a UTC timestamp
    # Ray's worker prefix: `(RayTrainWorker pid=4410, ip=10.0.3.14) `, `(raylet, ip=10.0.3.11) `
    # (a worker's pid only: the trainer's lines re-raise what a worker raised)
    r"^\((?:[\w.:-]{0,40}Worker[\w.:-]{0,20} )?pid=(?P<rpid>\d{1,9})"
    r"(?:, ip=(?P<rip>\d{1,3}(?:\.\d{1,3}){3}))?\) ",
    r"^\([\w.:-]{1,60}, ip=(?P<rip2>\d{1,3}(?:\.\d{1,3}){3})\) ",  # raylet: its node
    r"^\([\w.:-]{1,60} pid=\d{1,9}(?:, ip=[\d.]{7,15})?\) ",  # the trainer: neither
    r"^\[pod/(?P<khost>[a-z0-9][a-z0-9.-]{0,252})/[\w.-]{1,63}\] ",
    r"^(?P<shost2>[a-z0-9][a-z0-9.]{0,120}-[a-z0-9.-]{1,120}) [a-z][a-z0-9-]{0,62} "
    r"(?=\[|Traceback|terminate called|[IWEF]\d{4} |[\w.-]{1,80}:\d{1,9}:\d{1,9} \["
    r"|(?:[a-z_][\w]{0,40}\.){0,6}[A-Z]\w{0,60}(?:Error|Exception)\b"
    r"|\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[.,\d]{0,10}Z )",  # `stern --timestamps`
))
# a pid named in a message: `Xid ...: 79, pid=2271, name=python`, Ray's `(pid=1957, ip=...)`,
# a CUDA OOM's `Process 48210 has 75.42 GiB memory in use` (use `pid_of`)
PID_IN_TEXT = re.compile(r"\bpid[=:] ?(\d{1,9})\b"
                         r"|\bProcess (\d{1,9}) has [\d.]{1,12} [KMGT]i?B memory in use")
IP = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")  # an IPv4 address (`fullmatch`): a node named by IP
_ANSI = re.compile(r"\x1b\[[0-9;]{0,24}[A-Za-z]")
_INDENTED = re.compile(r"[ \t]{1,8}(?:\[|[A-Z][a-z]{2} {1,2}\d{1,2} \d\d:)")
# `[Rank 3]`, `[PG 0 Rank 3]`, `[PG 0 (default_pg) Rank 3]` (another PG's rank is a rank in a
# sub-group, not the global one); Megatron's `AssertionError: Rank 15: found NaN ...`
_RANK_IN_TEXT = re.compile(r"\[(?:PG 0(?: \([\w.-]{1,40}\))? )?[Rr]ank (\d{1,6})\]"
                           r"|(?:Error|Exception): Rank (\d{1,6}): ")
_HOST_IN_TEXT = re.compile(
    r"\*\*\* (?:JOB|STEP) \S{1,24} ON (?P<h1>[\w.-]{1,80}) CANCELLED"
    r"|srun: error: (?P<h2>[\w.-]{1,80}): tasks? (?P<task>\d{1,6})"
    r"|Node failure on (?P<h3>[\w.-]{1,80})"
    # Megatron's `Rank 27: found NaN in local grad norm ... Device: 3, node: gx-nd-23`
    r"|\bDevice: \d{1,3}, node: (?P<h4>[\w.-]{1,80})"
    # its rerun state machine's `Rank 16, node gpu-b03, device 0, iteration 15231: ...`
    r"|\bRank \d{1,6}, node (?P<h7>[\w.-]{1,80}), device \d"
    # a row of `kubectl get pods`: NAME  READY  STATUS ...
    r"|^(?P<h5>[a-z0-9][a-z0-9.-]{0,252}) {2,40}\d{1,3}/\d{1,3} {2,40}[A-Z]\w{1,30} "
    # a row of `kubectl get events`: LAST SEEN  TYPE  REASON  OBJECT  MESSAGE, of a pod
    r"|\b(?:Normal|Warning) {1,40}[A-Z]\w{1,40} {1,40}pod/(?P<h6>[a-z0-9][a-z0-9.-]{0,252}) "
)
_TS_ANY = re.compile(
    _ISO + r"|\b[IWEF](\d\d?)(\d\d) (\d\d):(\d\d):(\d\d(?:\.\d{1,9})?)\b"
    r"|\b([A-Z][a-z]{2}) {1,2}(\d{1,2}) (\d\d):(\d\d):(\d\d)\b"
)


class LineInfo(NamedTuple):
    """What the prefixes of one line say, and the content behind them."""

    rank: int | None
    host: str | None
    timestamp: float | None
    level: str | None
    content: str
    pid: int | None = None  # from an NCCL `host:pid:tid` prefix or Ray's `(Worker pid=N) `
    local_rank: int | None = None  # from torchrun's `[default3]:` tee prefix
    # srun's task id (`3: ` from `srun -l`, `srun: error: host: task 3`): `rank` when the line
    # names no rank itself (`rank_is_task`); a rank only if srun started one task per rank
    task: int | None = None
    rank_is_task: bool = False
    ip: str | None = None  # Ray's `ip=` (the host too, unless a later prefix names one)


def pid_of(text: str) -> int | None:
    """The first pid `text` names (`PID_IN_TEXT`)."""
    m = PID_IN_TEXT.search(text)
    return int(m.group(1) or m.group(2)) if m else None


def _seconds(month: int, day: int, clock: str) -> float | None:
    """Year-less sortable seconds (logs that span New Year compare wrongly; documented)."""
    parts = clock.replace(",", ".").split(":")
    try:
        h, m, s = int(parts[0]), int(parts[1]), float(parts[2])
    except (IndexError, ValueError):
        return None
    if not (1 <= month <= 12 and 1 <= day <= 31):
        return None
    return ((month * 31 + day) * 24 + h) * 3600.0 + m * 60 + s


def _iso_seconds(g: tuple[str | None, ...]) -> float | None:
    return _seconds(int(g[1] or 0), int(g[2] or 0), f"{g[3]}:{g[4]}:{g[5]}")


def find_timestamp(text: str) -> float | None:
    """The last timestamp (ISO, glog or syslog form) in `text`, as sortable seconds."""
    matches = list(_TS_ANY.finditer(text[-2048:]))
    last = matches[-1] if matches else None
    if last is None:
        return None
    g = last.groups()
    if g[0]:
        return _iso_seconds(g[:6])
    if g[6]:
        return _seconds(int(g[6]), int(g[7] or 0), f"{g[8]}:{g[9]}:{g[10]}")
    return _seconds(_MONTHS.get(g[11] or "", 0), int(g[12] or 0), f"{g[13]}:{g[14]}:{g[15]}")


def _timestamp(d: dict[str, str | None], m: re.Match[str]) -> float | None:
    if d.get("gtime"):
        return _seconds(int(d["gmon"] or 0), int(d["gday"] or 0), d["gtime"] or "")
    if d.get("stime"):
        return _seconds(_MONTHS.get(d["smon"] or "", 0), int(d["sday"] or 0), d["stime"] or "")
    groups = m.groups()
    if len(groups) >= 6 and groups[0] and groups[0].isdigit() and len(groups[0]) == 4:
        return _iso_seconds(groups[:6])
    return None


def parse_line(line: str) -> LineInfo:
    """Strip known prefixes from a (capped) line; never raises."""
    rank: int | None = None
    task: int | None = None
    host: str | None = None
    ts: float | None = None
    level: str | None = None
    pid: int | None = None
    local: int | None = None
    ip: str | None = None
    rest = line.rstrip("\r\n")
    if "\x1b[" in rest:  # terminal colours (Ray, loguru, rich): `\x1b[36mray::...\x1b[39m`
        rest = _ANSI.sub("", rest)
    if rest[:1] in (" ", "\t") and _INDENTED.match(rest):
        rest = rest.lstrip(" \t")  # a paste indented by a ticket or a mail: `    [rank6]: ...`
    for _ in range(8):
        for rx in _PREFIXES:
            m = rx.match(rest)
            if m is None or m.end() == 0:
                continue
            d = m.groupdict()
            if d.get("rank") is not None or d.get("mrank") is not None:
                rank = int(d.get("rank") or d.get("mrank") or 0)
            if d.get("task") is not None:
                task = int(d["task"] or 0)
            host = (d.get("shost") or d.get("nhost") or d.get("phost") or d.get("bhost")
                    or d.get("mhost") or d.get("khost") or d.get("shost2") or d.get("thost")
                    or d.get("ohost") or d.get("vhost") or d.get("xhost")
                    or d.get("rip")
                    or d.get("rip2") or host)
            ip = d.get("rip") or d.get("rip2") or ip
            if d.get("local") is not None or d.get("olocal") is not None:
                local = int(d.get("local") or d.get("olocal") or 0)
            if d.get("npid") or d.get("rpid"):
                pid = int(d.get("npid") or d.get("rpid") or 0)
            level = d.get("lvl") or level
            ts = _timestamp(d, m) or ts
            rest = rest[m.end():].lstrip()
            break
        else:
            break
    if rank is None and (m := _RANK_IN_TEXT.search(rest, 0, 300)):
        rank = int(m.group(1) or m.group(2))
    hm = _HOST_IN_TEXT.search(rest, 0, 400)
    if hm:
        host = (hm.group("h1") or hm.group("h2") or hm.group("h3") or hm.group("h4")
                or hm.group("h5")
                or hm.group("h6") or hm.group("h7") or host)
        if task is None and hm.group("task"):
            task = int(hm.group("task"))
    if rank is None and local is None and task is not None:
        return LineInfo(task, host, ts, level, rest, pid, local, task, True, ip)
    return LineInfo(rank, host, ts, level, rest, pid, local, task, False, ip)

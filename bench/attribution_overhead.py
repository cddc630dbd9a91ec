"""What attribution costs a recovery (issue 5): the embedded engine on vs off, and the overlap
of a slow attribution source with a slow rendezvous.

1. OVERHEAD. The same run, ``ftrun --standalone --nproc-per-node 2 --max-restarts 1 WORKER``,
   with the embedded rules engine on (default) and off (``--no-ft-attribution-rules``),
   alternating (on/off, off/on, ...). In cycle 0 both ranks print ``--lines`` realistic
   training lines (step/loss lines, NCCL INFO, warnings; an all_reduce every 100 lines), then
   rank 1 prints an NCCL ``NET/IB`` error (a transient fault: the verdict is RESTART), records
   its death time and exits 1; rank 0 is left in a collective and must be torn down. In cycle
   1 both ranks all_reduce and exit 0. Every worker appends wall-clock records to a results
   file.

       recovery = max over ranks of (first all_reduce done in cycle 1) - (death in cycle 0)
       launcher = min over ranks of (cycle-1 worker started) - (death)

   The leader's ``decision`` event gives the decision latency (engine on only; with the
   engine off and no source there is no gate). The agent's events split the launcher part
   (death -> detected -> restart -> stopped -> round closed -> spawned). Target: the engine
   adds <= 50 ms to the recovery median.

2. OVERLAP. Two ``ftrun`` nodes on loopback (``--nproc-per-node 1``, ``--no-ft-attribution-
   rules``, ``--ft-attribution-http-url`` = a fake source in this process that answers a valid
   ``resilience.verdict/1`` RESTART X s after the POST, ``--ft-attribution-decision-timeout``
   above X and Y). Node 0's (the leader's) worker fails in cycle 0; node 1's worker handles
   SIGTERM by sleeping Y s before exiting, so the rendezvous of cycle 1 takes about Y s. The
   decision time as the leader sees it is (round 1 closed) - (leader's worker_failed), both
   ``mono`` on this host. Target: decision / max(X, Y) <= 1.1 (the naive X + Y is printed
   beside it).

    python bench/attribution_overhead.py [--runs 5] [--pairs 1:3,3:1,2:2] [--json]

Every run gets a fresh log dir (and a fresh rendezvous port and fake source for part 2), a
bounded timeout, and its process groups killed at the end (also on Ctrl-C / SIGTERM): the
launchers run in their own sessions and every process that carries the run's token in its
environment is SIGKILLed afterwards.
"""

from __future__ import annotations

import argparse
import contextlib
import http.server
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from types import FrameType
from typing import Any
from urllib.parse import parse_qs, urlsplit

OVERHEAD_TARGET_S = 0.050
OVERLAP_TARGET = 1.1
OUTLIER_S = 2.5  # workers part this far above the median: store-connect stall / CPU starvation
TOKEN_ENV = "ATTR_BENCH_TOKEN"
VERDICT_SCHEMA = "resilience.verdict/1"

WORKER_SRC = r'''
import json, os, signal, sys, time

T_START = time.time()  # before import torch
CYCLE = int(os.environ.get("RESILIENCE_CYCLE_ID") or os.environ["TORCHELASTIC_RESTART_COUNT"])
RANK = int(os.environ["RANK"])
MODE = os.environ["ATTR_BENCH_MODE"]  # overhead | overlap
ROLE = os.environ.get("ATTR_BENCH_ROLE", "")  # overlap: fail | slow


def emit(**rec):
    rec.update(cycle=CYCLE, rank=RANK, role=ROLE, pid=os.getpid())
    fd = os.open(os.environ["ATTR_BENCH_OUT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(rec) + "\n").encode())
    finally:
        os.close(fd)


if MODE == "overlap" and ROLE == "slow" and CYCLE == 0:
    SLOW = float(os.environ["ATTR_BENCH_SLOW_EXIT"])

    def on_term(signum, frame):  # a worker that takes Y s to exit (checkpoint on SIGTERM)
        emit(event="sigterm", t=time.time(), mono=time.monotonic())
        time.sleep(SLOW)
        emit(event="slow_exit", t=time.time(), mono=time.monotonic())
        os._exit(0)

    signal.signal(signal.SIGTERM, on_term)

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

T_IMPORTED = time.time()
dist.init_process_group("gloo")
T_INIT = time.time()
t = torch.ones(4)
dist.all_reduce(t)
emit(event="first_allreduce", t_start=T_START, t_imported=T_IMPORTED, t_init=T_INIT,
     t=time.time())
if CYCLE > 0:
    dist.destroy_process_group()
    sys.exit(0)

NETIB = ("node1:1234:5678 [0] transport/net_ib.cc:1295 NCCL WARN NET/IB : Got completion "
         "from peer 10.0.0.2<51234> with error 12, opcode 0, len 0, vendor err 129 (Recv)")


def die():
    print(f"[rank{RANK}]: Traceback (most recent call last): ... in all_reduce", file=sys.stderr)
    print(NETIB, file=sys.stderr, flush=True)
    emit(event="death", t=time.time(), mono=time.monotonic())
    os._exit(1)


def line(i):
    k = i % 20
    if k == 0:
        return (f"node0:{4000 + RANK}:{4100 + RANK} [{RANK}] NCCL INFO Channel {i % 32:02d}/0 : "
                f"{RANK}[{RANK}] -> {1 - RANK}[{1 - RANK}] via P2P/IPC/read\n")
    if k == 7:
        return ("/usr/lib/python3.11/site-packages/torch/utils/data/dataloader.py:557: "
                "UserWarning: This DataLoader will create 16 worker processes in total.\n")
    if k == 13:
        return (f"[2026-01-07 08:10:{i % 60:02d},{i % 1000:03d}] INFO data: loaded shard "
                f"{i % 9973:05d} in 0.{i % 97:02d}s, queue depth {i % 17}\n")
    return (f"step {i} loss {2.0 + 1.0 / (1 + i):.4f} lr 3.0e-04 "
            f"grad_norm {0.9 + (i % 7) / 100:.3f} tokens/s {48000 + i % 500}\n")


if MODE == "overhead":
    n = int(os.environ["ATTR_BENCH_LINES"])
    t0 = time.time()
    for i in range(n):
        sys.stdout.write(line(i))
        if i % 100 == 99:
            dist.all_reduce(t)  # a training step
    dist.all_reduce(t)  # both ranks printed everything
    emit(event="printed", lines=n, t0=t0, t=time.time())
    if RANK == 1:
        die()
    try:
        dist.all_reduce(t)  # the peer dies: gloo raises
    except Exception:
        pass
    while True:  # a survivor stuck after a failed collective: the launcher tears it down
        time.sleep(3600)
if ROLE == "fail":
    die()
while True:  # the slow node's worker: idle until the launcher's SIGTERM
    time.sleep(0.05)
'''


# -- process hygiene -------------------------------------------------------------------------
_LIVE: list[subprocess.Popen[bytes]] = []
_TOKENS: list[str] = []


def _spawn(cmd: Sequence[str], env: dict[str, str], console: Path) -> subprocess.Popen[bytes]:
    with open(console, "wb") as sink:
        proc = subprocess.Popen(
            list(cmd),
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
    _LIVE.append(proc)
    return proc


def _stop(proc: subprocess.Popen[bytes], grace: float = 5.0) -> None:
    """SIGTERM the launcher's session, SIGKILL after ``grace`` s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=grace)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)
    if proc in _LIVE:
        _LIVE.remove(proc)


def _token_pids(token: str) -> list[int]:
    """Processes started by one run: those whose environment carries its token."""
    needle = f"{TOKEN_ENV}={token}".encode()
    me, found = os.getpid(), []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == me:
            continue
        try:
            if needle in (entry / "environ").read_bytes().split(b"\0"):
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _sweep(token: str) -> int:
    """SIGKILL every process (and its group) whose environment carries ``token``."""
    my_group = os.getpgrp()
    pids = _token_pids(token)
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            group = os.getpgid(pid)
            if group != my_group:
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


def _hang_dump(token: str) -> str:
    """Python stacks of every process of a run that hung (py-spy, if installed), else ''."""
    exe = shutil.which("py-spy")
    if exe is None:
        return ""
    parts = []
    for pid in sorted(_token_pids(token)):
        try:
            got = subprocess.run([exe, "dump", "--pid", str(pid)], capture_output=True,
                                 text=True, timeout=20)
            parts.append(f"--- pid {pid}\n{got.stdout}{got.stderr}")
        except (OSError, subprocess.SubprocessError) as exc:
            parts.append(f"--- pid {pid}: py-spy failed: {exc}")
    return "\n".join(parts)


def _cleanup_all() -> None:
    for proc in list(_LIVE):
        _stop(proc, grace=2.0)
    for token in _TOKENS:
        _sweep(token)


def _on_sigterm(signum: int, frame: FrameType | None) -> None:
    raise KeyboardInterrupt


def _new_token() -> str:
    token = uuid.uuid4().hex
    _TOKENS.append(token)
    return token


def _env(token: str, out: Path, **extra: str) -> dict[str, str]:
    env = dict(os.environ)
    env.update({TOKEN_ENV: token, "ATTR_BENCH_OUT": str(out), "PYTHONUNBUFFERED": "1"})
    # The fake source is on loopback: never route it through a proxy.
    env["NO_PROXY"] = env["no_proxy"] = "127.0.0.1,localhost"
    env.update(extra)
    return env


def _wait_all(procs: Sequence[subprocess.Popen[bytes]], timeout: float) -> tuple[list[int], bool]:
    """Exit codes (-999 = still running) and whether the deadline passed."""
    deadline = time.monotonic() + timeout
    for p in procs:
        with contextlib.suppress(subprocess.TimeoutExpired):
            p.wait(timeout=max(0.0, deadline - time.monotonic()))
    codes = [p.returncode if p.returncode is not None else -999 for p in procs]
    return codes, any(c == -999 for c in codes)


# -- records and events ----------------------------------------------------------------------
def _jsonl(path: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    if not path.exists():
        return out
    for raw in path.read_text(errors="replace").splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(raw))
    return out


def _events(log_dir: Path) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for path in sorted(log_dir.rglob("events_*.jsonl")):
        out += _jsonl(path)
    return out


def _first(events: list[dict[str, Any]], kind: str, **match: object) -> dict[str, Any] | None:
    for e in events:
        if e.get("event") == kind and all(e.get(k) == v for k, v in match.items()):
            return e
    return None


def _tail(path: Path, n: int = 2) -> str:
    try:
        lines = path.read_text(errors="replace").strip().splitlines()
    except OSError:
        return ""
    return " | ".join(x.strip()[:160] for x in lines[-n:])


def _median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def _wait_quiet(threshold: float, max_wait: float) -> float:
    """Wait up to ``max_wait`` s for the host to be >= ``threshold`` idle; the last sample."""
    deadline = time.monotonic() + max_wait
    idle = _idle_fraction()
    while idle < threshold and time.monotonic() < deadline:
        idle = _idle_fraction(1.0)
    return idle


def _code_state() -> str:
    """The product code measured: HEAD and any uncommitted change under src/ (best effort)."""
    root = Path(__file__).resolve().parent.parent
    try:
        head = subprocess.run(["git", "-C", str(root), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(root), "status", "--porcelain", "--", "src"],
                               capture_output=True, text=True, timeout=10).stdout.split("\n")
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    changed = [line[3:] for line in dirty if line.strip()]
    return f"{head or '?'}" + (f" + uncommitted: {', '.join(changed)}" if changed else "")


def _idle_fraction(window: float = 0.3) -> float:
    """Host CPU idle fraction over ``window`` s, from /proc/stat."""

    def sample() -> tuple[int, int]:
        with open("/proc/stat") as f:
            vals = [int(x) for x in f.readline().split()[1:]]
        return vals[3] + vals[4], sum(vals)

    i0, t0 = sample()
    time.sleep(window)
    i1, t1 = sample()
    return (i1 - i0) / max(t1 - t0, 1)


# -- part 1: overhead ------------------------------------------------------------------------
OVERHEAD_PHASES = (
    "death->detected",
    "detected->restart",
    "restart->stopped",
    "stopped->closed",
    "closed->spawned",
)


@dataclass
class OverheadRun:
    engine: str  # on | off
    index: int
    ok: bool = False
    rc: int | None = None
    error: str = ""
    wall_s: float = 0.0
    load1: float = 0.0
    idle_before: float = 0.0
    recovery_s: float | None = None
    launcher_s: float | None = None
    workers_s: float | None = None
    decision_latency_s: float | None = None
    verdict: str = ""
    decision_message: str = ""
    print_s: float | None = None  # cycle 0: rank 1's time to print its lines (backpressure)
    outlier: bool = False
    hang_dump: str = ""  # py-spy stacks of a run that did not exit in time
    phases: dict[str, float] = field(default_factory=dict)  # launcher phases, s
    worker_phases: dict[str, float] = field(default_factory=dict)  # restarted workers', s


def run_overhead(index: int, engine: str, script: Path, work: Path, args: Any) -> OverheadRun:
    idle = _wait_quiet(args.quiet, args.quiet_wait)
    res = OverheadRun(engine, index, load1=os.getloadavg()[0], idle_before=idle)
    tag = f"overhead_{index}_{engine}"
    out, log_dir = work / f"{tag}.jsonl", work / tag
    token = _new_token()
    env = _env(token, out, ATTR_BENCH_MODE="overhead", ATTR_BENCH_LINES=str(args.lines))
    cmd = [args.ftrun, "--standalone", "--nproc-per-node", "2", "--max-restarts", "1",
           "--log-dir", str(log_dir)]
    if engine == "off":
        cmd.append("--no-ft-attribution-rules")
    cmd.append(str(script))
    t0 = time.monotonic()
    proc = _spawn(cmd, env, work / f"{tag}.console")
    try:
        (rc,), timed_out = _wait_all([proc], args.timeout)
        if timed_out:
            res.hang_dump = _hang_dump(token)
    finally:
        _stop(proc)
        _sweep(token)
    res.wall_s, res.rc = time.monotonic() - t0, None if timed_out else rc
    records = _jsonl(out)
    deaths = [r for r in records if r["event"] == "death"]
    restarted = [r for r in records if r["event"] == "first_allreduce" and r["cycle"] == 1]
    if timed_out:
        res.error = f"no exit within {args.timeout:g}s"
    elif rc != 0:
        res.error = f"exit code {rc}"
    elif not deaths:
        res.error = "no death recorded"
    elif len({r["rank"] for r in restarted}) < 2:
        res.error = f"{len(restarted)} of 2 ranks did an all_reduce in cycle 1"
    if res.error:
        res.error += ": " + _tail(work / f"{tag}.console")
        return res
    t_death = float(deaths[0]["t"])
    res.ok = True
    res.recovery_s = max(float(r["t"]) for r in restarted) - t_death
    res.launcher_s = min(float(r["t_start"]) for r in restarted) - t_death
    res.workers_s = res.recovery_s - res.launcher_s
    crit = max(restarted, key=lambda r: float(r["t"]))  # the rank that finished last
    res.worker_phases = {
        "import": float(crit["t_imported"]) - float(crit["t_start"]),
        "init": float(crit["t_init"]) - float(crit["t_imported"]),
        "all_reduce": float(crit["t"]) - float(crit["t_init"]),
    }
    printed = [r for r in records if r["event"] == "printed" and r["rank"] == 1]
    if printed:
        res.print_s = float(printed[0]["t"]) - float(printed[0]["t0"])
    events = _events(log_dir)
    marks = [
        ("death->detected", _first(events, "worker_failed", cycle=0)),
        ("detected->restart", _first(events, "restart", cycle=0)),
        ("restart->stopped", _first(events, "workers_stopped", cycle=0)),
        ("stopped->closed", _first(events, "round_closed", round=1)),
        ("closed->spawned", _first(events, "cycle_started", cycle=1)),
    ]
    prev = t_death
    for name, e in marks:
        if e is not None:
            res.phases[name] = float(e["ts"]) - prev
            prev = float(e["ts"])
    decision = _first(events, "decision", cycle=0)
    if decision is not None:
        res.decision_latency_s = float(decision["latency"])
        v = decision.get("verdict") or {}
        res.verdict = f"{v.get('action', '?')} {v.get('category', '?')}" if v else "none"
        res.decision_message = str(decision.get("message", ""))
        if decision.get("stop"):
            res.ok, res.error = False, f"the leader decided STOP: {decision.get('message')}"
    return res


def flag_outliers(runs: Sequence[OverheadRun]) -> None:
    """Flag runs whose workers part (restarted workers' import, init, all_reduce) is more than
    OUTLIER_S above the pooled median: the 5 s TCPStore-connect stall or CPU starvation of the
    new workers, which the engine does not touch (its cost is all in the launcher part)."""
    ok = [r for r in runs if r.ok and r.workers_s is not None]
    med = _median([r.workers_s for r in ok if r.workers_s is not None])
    for r in ok:
        r.outlier = med is not None and r.workers_s is not None and r.workers_s > med + OUTLIER_S


def summarise_overhead(runs: Sequence[OverheadRun]) -> dict[str, Any]:
    flag_outliers(runs)
    out: dict[str, Any] = {}
    for engine in ("on", "off"):
        ok = [r for r in runs if r.engine == engine and r.ok]
        rec = [r.recovery_s for r in ok if r.recovery_s is not None]
        clean = [r.recovery_s for r in ok if r.recovery_s is not None and not r.outlier]
        lat = [r.decision_latency_s for r in ok if r.decision_latency_s is not None]
        out[engine] = {
            "runs": sum(r.engine == engine for r in runs),
            "ok": len(ok),
            "outliers": sum(r.outlier for r in ok),
            "failures": [f"run {r.index}: {r.error}" for r in runs
                         if r.engine == engine and not r.ok],
            "recovery_median_s": _median(rec),
            "recovery_min_s": min(rec) if rec else None,
            "recovery_max_s": max(rec) if rec else None,
            "recovery_median_no_outliers_s": _median(clean),
            "launcher_median_s": _median([r.launcher_s for r in ok if r.launcher_s is not None]),
            "launcher_min_s": min((r.launcher_s for r in ok if r.launcher_s is not None),
                                  default=None),
            "launcher_max_s": max((r.launcher_s for r in ok if r.launcher_s is not None),
                                  default=None),
            "print_median_s": _median([r.print_s for r in ok if r.print_s is not None]),
            "decision_latency_median_s": _median(lat),
            "decision_latency_min_s": min(lat) if lat else None,
            "decision_latency_max_s": max(lat) if lat else None,
            "verdicts": sorted({r.verdict for r in ok if r.verdict}),
            "phases_median_s": {
                k: _median([r.phases[k] for r in ok if k in r.phases]) for k in OVERHEAD_PHASES
            },
        }
    on, off = out["on"], out["off"]

    def diff(key: str) -> float | None:
        a, b = on[key], off[key]
        return a - b if a is not None and b is not None else None

    paired, paired_launcher = [], []
    by_index: dict[int, dict[str, OverheadRun]] = {}
    for r in runs:
        if r.ok:
            by_index.setdefault(r.index, {})[r.engine] = r
    for pair in by_index.values():
        a, b = pair.get("on"), pair.get("off")
        if a is None or b is None:
            continue
        if a.recovery_s is not None and b.recovery_s is not None:
            paired.append(a.recovery_s - b.recovery_s)
        if a.launcher_s is not None and b.launcher_s is not None:
            paired_launcher.append(a.launcher_s - b.launcher_s)
    added = diff("recovery_median_s")
    added_launcher = diff("launcher_median_s")
    out["added_recovery_median_s"] = added
    out["added_recovery_median_no_outliers_s"] = diff("recovery_median_no_outliers_s")
    out["added_launcher_median_s"] = added_launcher
    out["added_paired_median_s"] = _median(paired)
    out["paired_diffs_s"] = paired
    out["added_launcher_paired_median_s"] = _median(paired_launcher)
    out["added_phases_median_s"] = {
        k: (on["phases_median_s"][k] - off["phases_median_s"][k])
        if on["phases_median_s"][k] is not None and off["phases_median_s"][k] is not None
        else None
        for k in OVERHEAD_PHASES
    }
    out["target_s"] = OVERHEAD_TARGET_S
    out["target_met_recovery"] = added is not None and added <= OVERHEAD_TARGET_S
    out["target_met_launcher"] = added_launcher is not None and added_launcher <= OVERHEAD_TARGET_S
    out["runs"] = [asdict(r) for r in runs]
    return out


def _f(x: float | None, width: int = 7, unit: float = 1.0, digits: int = 3) -> str:
    return f"{x * unit:{width}.{digits}f}" if x is not None else f"{'-':>{width}}"


def _ms(x: float | None) -> str:
    return f"{1000 * x:+.0f} ms" if x is not None else "n/a"


def _print_hang(label: str, dump: str, max_lines: int = 80) -> None:
    lines = dump.splitlines()
    print(f"\npy-spy stacks of {label} (it did not exit in time):")
    print("\n".join("  " + line for line in lines[:max_lines]))
    if len(lines) > max_lines:
        print(f"  ... {len(lines) - max_lines} more lines (--json has all)")


def print_overhead(runs: Sequence[OverheadRun], s: dict[str, Any], lines: int) -> None:
    print(f"\n== 1. embedded engine on vs off: standalone, 2 ranks, {lines} lines/rank, "
          f"NET/IB failure in cycle 0 ==")
    print(f"{'run':>3} {'engine':<6} {'status':<7} {'recovery':>8} {'launcher':>8} "
          f"{'workers':>7} {'decision':>8} {'print':>6} {'load1':>5} {'idle':>5}  "
          f"launcher phases (ms) | workers' (s) / note")
    for r in runs:
        note = r.error[:120] if not r.ok else " ".join(
            f"{k.split('->')[1]}={1000 * v:.0f}" for k, v in r.phases.items()) + " | " + " ".join(
            f"{k}={v:.2f}" for k, v in r.worker_phases.items())
        if r.ok and r.verdict and r.verdict != "RESTART network":
            note += f"; verdict {r.verdict}: {r.decision_message[:100]}"
        status = ("outlier" if r.outlier else "ok") if r.ok else "FAILED"
        print(f"{r.index:>3} {r.engine:<6} {status:<7} "
              f"{_f(r.recovery_s, 8)} {_f(r.launcher_s, 8)} {_f(r.workers_s)} "
              f"{_f(r.decision_latency_s, 8)} "
              f"{_f(r.print_s, 6, digits=2)} {r.load1:5.1f} {100 * r.idle_before:4.0f}%  {note}")
    for r in runs:
        if r.hang_dump:
            _print_hang(f"run {r.index} engine {r.engine}", r.hang_dump)
    print(f"  (s; recovery = death -> restarted ranks' first all_reduce = launcher + workers; "
          f"launcher = death -> first restarted worker running; workers = its import torch, "
          f"init_process_group, all_reduce; decision = the leader's decision event latency; "
          f"print = rank 1's time to print its lines; outlier = workers > median + "
          f"{OUTLIER_S:g} s)")
    print(f"\n{'engine':<6} {'ok':>5} {'outl':>4} {'median':>7} {'min':>7} {'max':>7} "
          f"{'med-no-outl':>11} {'launcher med [min-max]':>23} {'decision med [min-max]':>23}")
    for engine in ("on", "off"):
        e = s[engine]
        launcher = (f"{_f(e['launcher_median_s'], 0)} [{_f(e['launcher_min_s'], 0)}-"
                    f"{_f(e['launcher_max_s'], 0)}]")
        dec = (f"{_f(e['decision_latency_median_s'], 0)} [{_f(e['decision_latency_min_s'], 0)}-"
               f"{_f(e['decision_latency_max_s'], 0)}]") if e["decision_latency_median_s"] else "-"
        print(f"{engine:<6} {e['ok']:>2}/{e['runs']:<2} {e['outliers']:>4} "
              f"{_f(e['recovery_median_s'])} {_f(e['recovery_min_s'])} "
              f"{_f(e['recovery_max_s'])} {_f(e['recovery_median_no_outliers_s'], 11)} "
              f"{launcher:>23} {dec:>23}")
    print(f"verdicts (engine on): {', '.join(s['on']['verdicts']) or '-'}")
    print("\nmedian launcher phases (ms):" + "".join(f"{k:>19}" for k in OVERHEAD_PHASES))
    for engine in ("on", "off"):
        ph = s[engine]["phases_median_s"]
        print(f"  {engine:<26}" + "".join(_f(ph[k], 19, 1000, 1) for k in OVERHEAD_PHASES))
    ad = s["added_phases_median_s"]
    print(f"  {'on - off':<26}" + "".join(_f(ad[k], 19, 1000, 1) for k in OVERHEAD_PHASES))
    print("\nadded by the engine (on - off):")
    print(f"  recovery median              {_ms(s['added_recovery_median_s'])}"
          f"   (without outliers {_ms(s['added_recovery_median_no_outliers_s'])}; paired median "
          f"{_ms(s['added_paired_median_s'])} "
          f"[{', '.join(f'{1000 * d:+.0f}' for d in s['paired_diffs_s'])}])")
    print(f"  launcher-part median         {_ms(s['added_launcher_median_s'])}"
          f"   (paired median {_ms(s['added_launcher_paired_median_s'])}; the engine's whole "
          f"cost is in this part)")
    tgt = f"<= {1000 * OVERHEAD_TARGET_S:.0f} ms"
    print(f"target {tgt}: recovery medians "
          f"{'MET' if s['target_met_recovery'] else 'NOT MET'}; launcher-part medians "
          f"{'MET' if s['target_met_launcher'] else 'NOT MET'}")


# -- part 2: overlap -------------------------------------------------------------------------
class FakeSource:
    """A tiny HTTP attribution source speaking HttpSource's protocol (resilience serve's API).

    ``POST /v1/attributions`` {job_id, cycle_id, log_paths, ...} -> 202 {status: pending};
    ``GET /v1/attributions/{job}/{cycle}?wait=W`` -> 200 + a ``resilience.verdict/1`` RESTART
    once ``delay`` s have passed since the first POST of that (job, cycle), else 202 after up to
    W s, 404 if never posted.
    """

    def __init__(self, delay: float) -> None:
        self.delay = delay
        self.posted: dict[tuple[str, int], float] = {}
        self.answered: dict[tuple[str, int], float] = {}
        self.requests: list[tuple[str, str, int, float]] = []  # method, path, status, mono
        self._lock = threading.Lock()
        self._stop = threading.Event()
        source = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # one small answer must not wait for a delayed ACK

            def do_POST(self) -> None:
                source._post(self)

            def do_GET(self) -> None:
                source._get(self)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self) -> FakeSource:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self.server.shutdown()
        self.server.server_close()

    @staticmethod
    def _send(h: http.server.BaseHTTPRequestHandler, code: int, body: dict[str, Any]) -> None:
        data = json.dumps(body).encode()
        h.send_response(code)
        h.send_header("content-type", "application/json")
        h.send_header("content-length", str(len(data)))
        h.end_headers()
        h.wfile.write(data)

    def _log(self, method: str, path: str, code: int) -> None:
        with self._lock:
            self.requests.append((method, path, code, time.monotonic()))

    def _post(self, h: http.server.BaseHTTPRequestHandler) -> None:
        now = time.monotonic()
        try:
            body = json.loads(h.rfile.read(int(h.headers.get("content-length", "0"))))
            job, cycle, paths = body["job_id"], body["cycle_id"], body["log_paths"]
            ok = (isinstance(job, str) and job and isinstance(cycle, int) and cycle >= 0
                  and isinstance(paths, list) and paths)
        except (ValueError, KeyError, TypeError):
            ok = False
        if not ok or urlsplit(h.path).path != "/v1/attributions":
            self._log("POST", h.path, 422)
            self._send(h, 422, {"error": "invalid", "reason": "not an attribution request"})
            return
        with self._lock:
            self.posted.setdefault((job, cycle), now)
        self._log("POST", h.path, 202)
        self._send(h, 202, {"status": "pending", "cycle_id": cycle, "log_paths": paths,
                            "job_id": job, "triggers": 1})

    def _get(self, h: http.server.BaseHTTPRequestHandler) -> None:
        url = urlsplit(h.path)
        parts = url.path.strip("/").split("/")
        if len(parts) != 4 or parts[:2] != ["v1", "attributions"] or not parts[3].isdigit():
            self._log("GET", h.path, 404)
            self._send(h, 404, {"error": "not_found", "reason": url.path})
            return
        job, cycle = parts[2], int(parts[3])
        try:
            wait = float(parse_qs(url.query).get("wait", ["0"])[0])
        except ValueError:
            wait = 0.0
        with self._lock:
            posted = self.posted.get((job, cycle))
        if posted is None:
            self._log("GET", h.path, 404)
            self._send(h, 404, {"error": "not_found", "reason": f"{job}/{cycle} not triggered"})
            return
        ready_at = posted + self.delay
        self._stop.wait(max(0.0, min(ready_at - time.monotonic(), wait)))
        if time.monotonic() < ready_at:
            self._log("GET", h.path, 202)
            self._send(h, 202, {"status": "pending", "cycle_id": cycle, "log_paths": [],
                                "job_id": job})
            return
        with self._lock:
            self.answered.setdefault((job, cycle), time.monotonic())
        self._log("GET", h.path, 200)
        self._send(h, 200, fake_verdict(cycle, self.delay))


def fake_verdict(cycle: int, delay: float) -> dict[str, Any]:
    return {
        "schema": VERDICT_SCHEMA,
        "cycle_id": cycle,
        "action": "RESTART",
        "category": "network",
        "confidence": 0.9,
        "culprit_ranks": [],
        "culprit_nodes": [],
        "evidence": [{"rank": 0, "line": 1, "text": "NCCL WARN NET/IB : Got completion "
                      "from peer 10.0.0.2<51234> with error 12"}],
        "reason": f"bench fake source: transient fabric fault (answered after {delay:g} s)",
        "source": "bench-fake",
        "fingerprint": "bench-fake-netib",
    }


def _check_verdict_schema() -> None:
    """The fake answer must be a valid verdict, or part 2 would measure a rejected answer."""
    try:
        from resilience.attribution import Verdict
    except ImportError:
        return
    Verdict.model_validate_json(json.dumps(fake_verdict(0, 1.0)))


@dataclass
class OverlapRun:
    x: float
    y: float
    index: int
    ok: bool = False
    codes: list[int] = field(default_factory=list)
    error: str = ""
    wall_s: float = 0.0
    load1: float = 0.0
    decision_s: float | None = None  # leader's worker_failed -> round 1 closed (mono)
    decision_latency_s: float | None = None  # the decision event's own latency field
    detect_to_gate_s: float | None = None  # worker_failed -> gate.on_failure
    posted_s: float | None = None  # failure -> the fake source got the POST
    answered_s: float | None = None  # failure -> the fake source answered 200
    rdzv_s: float | None = None  # failure -> node 1's workers stopped (Y + tick)
    pending: list[str] = field(default_factory=list)
    verdict_source: str = ""
    ratio: float | None = None
    hang_dump: str = ""

    @property
    def naive_s(self) -> float:
        return self.x + self.y


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def run_overlap(x: float, y: float, index: int, script: Path, work: Path,
                args: Any) -> OverlapRun:
    _wait_quiet(args.quiet, args.quiet_wait)
    res = OverlapRun(x, y, index, load1=os.getloadavg()[0])
    tag = f"overlap_{index}_x{x:g}_y{y:g}"
    out, log_root = work / f"{tag}.jsonl", work / tag
    token = _new_token()
    port, run_id = _free_port(), f"ovl{uuid.uuid4().hex[:10]}"
    decision_timeout = max(x, y) * 2 + 5
    timeout = args.timeout + x + y
    procs: list[subprocess.Popen[bytes]] = []
    timed_out = False
    t0 = time.monotonic()
    with FakeSource(x) as source:
        try:
            for node, role in ((0, "fail"), (1, "slow")):
                env = _env(token, out, ATTR_BENCH_MODE="overlap", ATTR_BENCH_ROLE=role,
                           ATTR_BENCH_SLOW_EXIT=f"{y:g}")
                cmd = [args.ftrun, "--nnodes", "2", "--nproc-per-node", "1",
                       "--rdzv-backend", "c10d", "--rdzv-endpoint", f"127.0.0.1:{port}",
                       "--rdzv-id", run_id,
                       "--rdzv-conf", f"is_host={int(node == 0)},join_timeout=120",
                       "--max-restarts", "1", "--local-addr", f"node{node}",
                       "--shutdown-timeout", f"{y + 20:g}",
                       "--log-dir", str(log_root / f"node{node}"),
                       "--no-ft-attribution-rules", "--ft-attribution-http-url", source.url,
                       "--ft-attribution-decision-timeout", f"{decision_timeout:g}",
                       str(script)]
                procs.append(_spawn(cmd, env, work / f"{tag}_node{node}.console"))
            res.codes, timed_out = _wait_all(procs, timeout)
            if timed_out:
                res.hang_dump = _hang_dump(token)
        finally:
            for p in procs:
                _stop(p)
            _sweep(token)
        posted = dict(source.posted)
        answered = dict(source.answered)
    res.wall_s = time.monotonic() - t0
    if timed_out:
        res.error = f"no exit within {timeout:g}s"
    elif res.codes != [0, 0]:
        res.error = f"exit codes {res.codes}"
    leader = _events(log_root / "node0")
    other = _events(log_root / "node1")
    failed = _first(leader, "worker_failed", cycle=0)
    closed = _first(leader, "round_closed", round=1)
    decision = _first(leader, "decision", cycle=0)
    if not res.error and (failed is None or closed is None or decision is None):
        res.error = ("missing leader events: "
                     f"worker_failed={failed is not None} round_closed={closed is not None} "
                     f"decision={decision is not None}")
    if res.error or failed is None or closed is None or decision is None:
        res.error += ": " + _tail(work / f"{tag}_node0.console")
        return res
    t_fail = float(failed["mono"])
    res.decision_s = float(closed["mono"]) - t_fail
    res.decision_latency_s = float(decision["latency"])
    res.detect_to_gate_s = float(decision["mono"]) - res.decision_latency_s - t_fail
    res.pending = list(decision.get("pending") or [])
    v = decision.get("verdict") or {}
    res.verdict_source = str(v.get("source", "")) if v else ""
    key = (run_id, 0)
    if key in posted:
        res.posted_s = posted[key] - t_fail
    if key in answered:
        res.answered_s = answered[key] - t_fail
    stopped = _first(other, "workers_stopped", cycle=0)
    if stopped is not None:
        res.rdzv_s = float(stopped["mono"]) - t_fail
    res.ratio = res.decision_s / max(x, y)
    res.ok = True
    if decision.get("stop"):
        res.ok, res.error = False, f"the leader decided STOP: {decision.get('message')}"
    elif res.pending or res.verdict_source != "bench-fake":
        res.error = (f"the fake source's verdict was not used (pending {res.pending}, "
                     f"source {res.verdict_source!r}): {decision.get('message')}")
    return res


def summarise_overlap(runs: Sequence[OverlapRun]) -> dict[str, Any]:
    pairs: dict[str, Any] = {}
    for r in runs:
        pairs.setdefault(f"{r.x:g}:{r.y:g}", []).append(r)
    table = []
    for key, rs in pairs.items():
        ok = [r for r in rs if r.ok and r.decision_s is not None]
        dec = _median([r.decision_s for r in ok if r.decision_s is not None])
        x, y = rs[0].x, rs[0].y
        table.append({
            "x": x, "y": y, "runs": len(rs), "ok": len(ok),
            "decision_median_s": dec,
            "decision_latency_median_s": _median(
                [r.decision_latency_s for r in ok if r.decision_latency_s is not None]),
            "max_xy": max(x, y), "naive_s": x + y,
            "ratio": dec / max(x, y) if dec is not None else None,
            "ratio_worst": max((r.ratio for r in ok if r.ratio is not None), default=None),
            "target_met": dec is not None and dec / max(x, y) <= OVERLAP_TARGET,
            "key": key,
        })
    return {
        "pairs": table,
        "target": OVERLAP_TARGET,
        "target_met": bool(table) and all(t["target_met"] for t in table),
        "runs": [asdict(r) | {"naive_s": r.naive_s} for r in runs],
    }


def print_overlap(runs: Sequence[OverlapRun], s: dict[str, Any]) -> None:
    print("\n== 2. overlap: fake HTTP source answers after X s, node 1's worker exits Y s after "
          "SIGTERM (2 nodes, rules off) ==")
    print(f"{'X':>4} {'Y':>4} {'run':>3} {'status':<6} {'decided':>8} {'latency':>8} "
          f"{'gate':>6} {'POST':>6} {'answer':>6} {'rdzv':>6} {'ratio':>6} {'X+Y':>5} "
          f"{'load1':>5}  note")
    for r in runs:
        print(f"{r.x:>4g} {r.y:>4g} {r.index:>3} {'ok' if r.ok else 'FAILED':<6} "
              f"{_f(r.decision_s, 8)} {_f(r.decision_latency_s, 8)} "
              f"{_f(r.detect_to_gate_s, 6)} {_f(r.posted_s, 6)} {_f(r.answered_s, 6)} "
              f"{_f(r.rdzv_s, 6)} {_f(r.ratio, 6, digits=2)} {r.naive_s:>5g} {r.load1:5.1f}  "
              f"{r.error[:110]}")
    for r in runs:
        if r.hang_dump:
            _print_hang(f"run {r.index} X={r.x:g} Y={r.y:g}", r.hang_dump)
    print("  (s from the leader's worker_failed: decided = round 1 closed; latency = the "
          "decision event's; gate = the closer saw the failure; POST/answer at the fake "
          "source; rdzv = node 1's workers stopped)")
    print(f"\n{'X':>4} {'Y':>4} {'ok':>5} {'decision':>8} {'max(X,Y)':>8} {'ratio':>6} "
          f"{'worst':>6} {'naive X+Y':>9}  target <= {OVERLAP_TARGET:g}x")
    for t in s["pairs"]:
        print(f"{t['x']:>4g} {t['y']:>4g} {t['ok']:>2}/{t['runs']:<2} "
              f"{_f(t['decision_median_s'], 8)} {t['max_xy']:>8g} {_f(t['ratio'], 6, digits=2)} "
              f"{_f(t['ratio_worst'], 6, digits=2)} {t['naive_s']:>9g}  "
              f"{'MET' if t['target_met'] else 'NOT MET'}")


# -- main ------------------------------------------------------------------------------------
def _pairs(text: str) -> list[tuple[float, float]]:
    out = []
    for item in text.split(","):
        x, _, y = item.partition(":")
        out.append((float(x), float(y)))
    return out


@contextlib.contextmanager
def _workdir(keep: bool) -> Iterator[Path]:
    work = Path(tempfile.mkdtemp(prefix="attribution_overhead_"))
    try:
        yield work
    finally:
        if keep:
            print(f"kept {work}", file=sys.stderr)
        else:
            shutil.rmtree(work, ignore_errors=True)


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    p.add_argument("--runs", type=int, default=5,
                   help="part 1: runs per setting, alternating on/off (default 5)")
    p.add_argument("--lines", type=int, default=3000,
                   help="part 1: log lines each rank prints before the failure (default 3000)")
    p.add_argument("--pairs", default="1:3,3:1,2:2",
                   help="part 2: X:Y pairs, source delay : slow-exit seconds (default "
                   "1:3,3:1,2:2)")
    p.add_argument("--overlap-runs", type=int, default=1, help="part 2: runs per pair (1)")
    p.add_argument("--part", choices=("both", "overhead", "overlap"), default="both")
    p.add_argument("--timeout", type=float, default=120.0,
                   help="seconds per run (part 2 adds X + Y; default 120)")
    p.add_argument("--quiet", type=float, default=0.5,
                   help="before each run, wait for the host CPU to be this idle (default 0.5)")
    p.add_argument("--quiet-wait", type=float, default=15.0,
                   help="longest wait for a quiet host before a run, 0 to skip (default 15 s)")
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, records)")
    p.add_argument("--json", action="store_true", help="print one JSON summary instead of tables")
    args = p.parse_args(argv)
    ftrun = shutil.which("ftrun")
    if ftrun is None:
        print("attribution_overhead.py: ftrun is not on PATH", file=sys.stderr)
        return 2
    args.ftrun = ftrun
    pairs = _pairs(args.pairs)
    _check_verdict_schema()
    signal.signal(signal.SIGTERM, _on_sigterm)

    def progress(text: str) -> None:
        print(text, file=sys.stderr if args.json else sys.stdout, flush=True)

    overhead: list[OverheadRun] = []
    overlap: list[OverlapRun] = []
    load_before = os.getloadavg()
    code = _code_state()
    interrupted = False
    with _workdir(args.keep) as work:
        script = work / "worker.py"
        script.write_text(WORKER_SRC)
        # Warm the page cache so the first run does not pay a cold `import torch`.
        subprocess.run([sys.executable, "-c", "import torch.distributed"], check=False)
        try:
            if args.part in ("both", "overhead"):
                for i in range(args.runs):
                    for engine in (("on", "off") if i % 2 == 0 else ("off", "on")):
                        r = run_overhead(i, engine, script, work, args)
                        overhead.append(r)
                        progress(f"overhead run {i} engine {engine}: "
                                 + (f"recovery {r.recovery_s:.3f} s" if r.ok else
                                    f"FAILED ({r.error[:200]})")
                                 + f" [{r.wall_s:.1f} s wall, load {r.load1:.1f}]")
            if args.part in ("both", "overlap"):
                for i in range(args.overlap_runs):
                    for x, y in pairs:
                        o = run_overlap(x, y, i, script, work, args)
                        overlap.append(o)
                        progress(f"overlap X={x:g} Y={y:g} run {i}: "
                                 + (f"decided in {o.decision_s:.3f} s" if o.decision_s else
                                    f"FAILED ({o.error[:200]})")
                                 + f" [{o.wall_s:.1f} s wall, load {o.load1:.1f}]")
        except KeyboardInterrupt:
            interrupted = True
            print("interrupted; cleaning up and reporting the runs so far", file=sys.stderr)
        finally:
            _cleanup_all()

    summary: dict[str, Any] = {
        "code": code,
        "host": {"cpus": os.cpu_count(), "loadavg_before": load_before,
                 "loadavg_after": os.getloadavg()},
        "interrupted": interrupted,
    }
    if overhead:
        summary["overhead"] = summarise_overhead(overhead)
    if overlap:
        summary["overlap"] = summarise_overlap(overlap)
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    print(f"\ncode measured: {code}")
    print(f"host: {os.cpu_count()} CPUs, load average before "
          f"{' '.join(f'{x:.1f}' for x in load_before)}, after "
          f"{' '.join(f'{x:.1f}' for x in summary['host']['loadavg_after'])}")
    if overhead:
        print_overhead(overhead, summary["overhead"], args.lines)
    if overlap:
        print_overlap(overlap, summary["overlap"])
    return 130 if interrupted else 0


if __name__ == "__main__":
    sys.exit(main())

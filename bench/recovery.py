"""Recovery-time benchmark: ``ftrun`` vs ``torchrun`` on the same script, in the same run.

RECOVERY TIME = (wall-clock time a worker dies from an injected failure)
             -> (time the restarted workers complete their first successful gloo all_reduce).

Each run launches ``<launcher> --standalone --nproc-per-node 2 --max-restarts 1 WORKER`` as a
subprocess. The worker script (written to a temp dir) records ``time.time()`` at process start
(before ``import torch``), joins the gloo group, does one all_reduce and appends JSON lines to
``$RECOVERY_BENCH_OUT``. In restart 0, rank 1 records its death time and dies (``os._exit(1)``,
or SIGKILL with ``--kill sigkill``) right after its first all_reduce, while rank 0 blocks in a
second all_reduce (with ``--survivor hang``, the default, it keeps blocking after gloo reports
the lost peer, like a survivor stuck in a collective: the launcher must tear it down). In
restart 1 both ranks do the all_reduce, record and exit 0.

    recovery  = max over ranks of t_first_allreduce (restart 1) - t_death
    launcher  = min over ranks of t_start (restart 1) - t_death   (detect, tear down, rdzv, spawn)
    workers   = recovery - launcher                                 (interpreter, import torch,
                                                                     init_process_group, all_reduce)

For ftrun the agent's events JSONL (``<log-dir>/<run-id>/events_*.jsonl``) splits the launcher
part further (``--phases``). Runs alternate launchers; a run that exits non-zero, times out or
leaves no restart-1 records counts as a failed recovery. Runs whose recovery is more than 4.5 s
above their launcher's median are flagged as the 5 s TCPStore-connect stall of this machine
(reverse DNS of ::ffff:127.0.0.1) and medians are printed with and without them.

    python bench/recovery.py --runs 6 [--json] [--phases]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

LAUNCHERS: tuple[str, ...] = ("ftrun", "torchrun")
TARGET_RATIO = 0.8
TORCHRUN_REFERENCE_S = 2.9
STALL_S = 4.5  # recovery this far above the median = the 5 s store-connect stall
TOKEN_ENV = "RECOVERY_BENCH_TOKEN"

WORKER_SRC = r'''
import json, os, signal, time

T_START = time.time()  # before import torch


def _t_fork():
    """Wall-clock time the kernel created this process (10 ms resolution), or None."""
    try:
        with open("/proc/self/stat") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        age = time.clock_gettime(time.CLOCK_BOOTTIME) - int(fields[19]) / os.sysconf("SC_CLK_TCK")
        return time.time() - age
    except (OSError, ValueError, IndexError):
        return None


def _emit(**rec):
    fd = os.open(os.environ["RECOVERY_BENCH_OUT"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, (json.dumps(rec) + "\n").encode())
    finally:
        os.close(fd)


T_FORK = _t_fork()
import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

T_IMPORTED = time.time()
restart = int(os.environ.get("TORCHELASTIC_RESTART_COUNT", "0"))
rank = int(os.environ["RANK"])
_emit(event="started", restart=restart, rank=rank, pid=os.getpid(), t_start=T_START,
      t_imported=T_IMPORTED)
dist.init_process_group("gloo")
T_INIT = time.time()
t = torch.ones(4)
dist.all_reduce(t)
T_AR = time.time()
_emit(event="first_allreduce", restart=restart, rank=rank, pid=os.getpid(), t_fork=T_FORK,
      t_start=T_START, t_imported=T_IMPORTED, t_init=T_INIT, t_first_allreduce=T_AR)
if restart == 0:
    if rank == 1:
        t_death = time.time()
        _emit(event="death", restart=restart, rank=rank, pid=os.getpid(), t_death=t_death)
        if os.environ.get("RECOVERY_BENCH_KILL") == "sigkill":
            os.kill(os.getpid(), signal.SIGKILL)
        os._exit(1)
    try:
        dist.all_reduce(t)  # blocks until the peer is gone
    except Exception:
        if os.environ.get("RECOVERY_BENCH_SURVIVOR", "hang") != "hang":
            raise
    while True:  # a survivor stuck in a collective: the launcher must tear it down
        time.sleep(3600)
dist.destroy_process_group()
'''


# -- one run ---------------------------------------------------------------------------------
@dataclass
class RunResult:
    launcher: str
    index: int
    ok: bool
    rc: int | None
    timed_out: bool
    wall_s: float
    error: str = ""
    recovery_s: float | None = None
    launcher_s: float | None = None
    workers_s: float | None = None
    stall: bool = False  # recovery > launcher median + STALL_S
    stall_cause: str = ""  # the phase that took the extra time
    idle_before: float | None = None  # host CPU idle fraction just before the run
    phases: dict[str, float] = field(default_factory=dict)


def _read_records(path: Path) -> list[dict[str, Any]]:
    if not path.exists():
        return []
    out = []
    for line in path.read_text().splitlines():
        with contextlib.suppress(ValueError):
            out.append(json.loads(line))
    return out


def _ftrun_phases(
    log_dir: Path, t_death: float, restarted: list[dict[str, Any]]
) -> dict[str, float]:
    """Split ftrun's launcher part with the agent's own events (wall-clock ``ts``)."""
    events: list[dict[str, Any]] = []
    for path in sorted(log_dir.rglob("events_*.jsonl")):
        events += _read_records(path)

    def first(kind: str, cycle: int | None = None) -> float | None:
        for e in events:
            if e.get("event") == kind and (cycle is None or e.get("cycle") == cycle):
                return float(e["ts"])
        return None

    marks = [
        ("death->detected", first("worker_failed", 0)),
        ("detected->restart", first("restart", 0)),
        ("restart->stopped", first("workers_stopped", 0)),
    ]
    phases: dict[str, float] = {}
    prev = t_death
    for name, ts in marks:
        if ts is None:
            continue
        phases[name] = ts - prev
        prev = ts
    forks = [r["t_fork"] for r in restarted if r.get("t_fork") is not None]
    if forks and "restart->stopped" in phases:
        phases["stopped->forked"] = min(forks) - prev  # join round 1, new store, Popen
    return phases


def _common_phases(t_death: float, restarted: list[dict[str, Any]]) -> dict[str, float]:
    """Launcher-independent split along the critical path (the rank that imported last)."""
    nan = float("nan")
    forks = [r["t_fork"] for r in restarted if r.get("t_fork") is not None]
    crit = max(restarted, key=lambda r: r["t_imported"])
    return {
        "death->first fork": min(forks) - t_death if len(forks) == len(restarted) else nan,
        "spawn stagger": max(forks) - min(forks) if len(forks) == len(restarted) else nan,
        "fork->script": crit["t_start"] - crit["t_fork"] if crit.get("t_fork") else nan,
        "import torch": crit["t_imported"] - crit["t_start"],
        "init_process_group": crit["t_init"] - crit["t_imported"],
        "all_reduce": max(r["t_first_allreduce"] for r in restarted) - crit["t_init"],
    }


def run_one(
    launcher: str,
    exe: str,
    index: int,
    script: Path,
    work: Path,
    args: argparse.Namespace,
) -> RunResult:
    out = work / f"{launcher}_{index}.jsonl"
    log_dir = work / f"{launcher}_{index}_logs"
    token = f"{uuid.uuid4().hex}"
    env = dict(os.environ)
    env.update(
        {
            "RECOVERY_BENCH_OUT": str(out),
            "RECOVERY_BENCH_KILL": args.kill,
            "RECOVERY_BENCH_SURVIVOR": args.survivor,
            TOKEN_ENV: token,
            "PYTHONUNBUFFERED": "1",
        }
    )
    cmd = [
        exe,
        "--standalone",
        "--nproc-per-node",
        "2",
        "--max-restarts",
        "1",
        "--log-dir",
        str(log_dir),
        str(script),
    ]
    console = work / f"{launcher}_{index}.console"
    idle = wait_quiet(args.quiet, args.quiet_wait) if args.quiet_wait > 0 else None
    t0 = time.monotonic()
    timed_out, rc = False, None
    with open(console, "wb") as sink:
        proc = subprocess.Popen(
            cmd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=sink,
            stderr=sink,
            start_new_session=True,
        )
        try:
            rc = proc.wait(timeout=args.timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
            _stop_group(proc)
        finally:
            _stop_group(proc)
            _sweep(token)
    wall = time.monotonic() - t0
    res = RunResult(launcher, index, False, rc, timed_out, wall, idle_before=idle)
    records = _read_records(out)
    deaths = [r for r in records if r.get("event") == "death"]
    restarted = [
        r for r in records if r.get("event") == "first_allreduce" and r.get("restart") == 1
    ]
    if timed_out:
        res.error = f"no exit within {args.timeout:g}s"
    elif rc != 0:
        res.error = f"exit code {rc}"
    elif not deaths:
        res.error = "no injected death recorded"
    elif len({r["rank"] for r in restarted}) < 2:
        res.error = f"{len(restarted)} of 2 ranks finished restart 1"
    if res.error:
        started = {r["rank"] for r in records if r.get("event") == "started" and r["restart"] >= 1}
        done = {r["rank"] for r in restarted}
        text = console.read_text(errors="replace")
        if "connectFullMesh failed" in text:
            res.error += (
                ": restarted gloo connectFullMesh failed (stale store keys, pytorch#167288)"
            )
        elif timed_out and len(started) == 2 and len(done) < 2:
            res.error += ": restarted workers blocked in init_process_group or all_reduce"
        elif timed_out and not started:
            res.error += ": no restarted worker got past import torch"
        elif tail := text.strip().splitlines()[-2:]:
            res.error += ": " + " | ".join(line.strip()[:160] for line in tail)
        return res
    t_death = float(deaths[0]["t_death"])
    res.ok = True
    res.recovery_s = max(r["t_first_allreduce"] for r in restarted) - t_death
    res.launcher_s = min(r["t_start"] for r in restarted) - t_death
    res.workers_s = res.recovery_s - res.launcher_s
    res.phases = _common_phases(t_death, restarted)
    if launcher == "ftrun":
        res.phases.update(_ftrun_phases(log_dir, t_death, restarted))
    return res


# -- host load -------------------------------------------------------------------------------
def _cpu_times() -> tuple[int, int]:
    """(idle, total) jiffies of the whole host, from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [int(x) for x in f.readline().split()[1:]]
    return fields[3] + fields[4], sum(fields)


def idle_fraction(window: float = 0.5) -> float:
    idle0, total0 = _cpu_times()
    time.sleep(window)
    idle1, total1 = _cpu_times()
    return (idle1 - idle0) / max(total1 - total0, 1)


def wait_quiet(threshold: float, max_wait: float) -> float:
    """Wait up to ``max_wait`` s for the host to be >= ``threshold`` idle; the last sample."""
    deadline = time.monotonic() + max_wait
    idle = idle_fraction()
    while idle < threshold and time.monotonic() < deadline:
        idle = idle_fraction()
    return idle


# -- process hygiene -------------------------------------------------------------------------
def _stop_group(proc: subprocess.Popen[bytes]) -> None:
    """SIGTERM the launcher's session, SIGKILL after 5 s."""
    if proc.poll() is None:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGTERM)
        with contextlib.suppress(subprocess.TimeoutExpired):
            proc.wait(timeout=5)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(proc.pid, signal.SIGKILL)
    with contextlib.suppress(subprocess.TimeoutExpired):
        proc.wait(timeout=5)


def _pids_with_token(token: str) -> list[int]:
    """Processes started by this bench run: those whose environment carries our token."""
    needle = f"{TOKEN_ENV}={token}".encode()
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            environ = (entry / "environ").read_bytes()
        except OSError:
            continue
        if needle in environ.split(b"\0"):
            found.append(int(entry.name))
    return found


def _sweep(token: str) -> int:
    """SIGKILL every leftover process (and its process group) of one run; returns the count."""
    me, my_group = os.getpid(), os.getpgrp()
    pids = [p for p in _pids_with_token(token) if p != me]
    for pid in pids:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            group = os.getpgid(pid)
            if group != my_group:
                os.killpg(group, signal.SIGKILL)
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    return len(pids)


# -- statistics and report -------------------------------------------------------------------
def _median(xs: Sequence[float]) -> float | None:
    return statistics.median(xs) if xs else None


def flag_stalls(results: Iterable[RunResult]) -> None:
    """Flag runs > STALL_S above their launcher's median, and name the phase that grew.

    The 5 s store-connect stall shows up in a store phase (init_process_group, or the
    launcher's rendezvous); a slow ``import torch`` means CPU contention on the host instead.
    """
    by: dict[str, list[RunResult]] = {}
    for r in results:
        if r.ok and r.recovery_s is not None:
            by.setdefault(r.launcher, []).append(r)
    for runs in by.values():
        med = statistics.median(r.recovery_s for r in runs if r.recovery_s is not None)
        for r in runs:
            r.stall = r.recovery_s is not None and r.recovery_s > med + STALL_S
            if not r.stall:
                continue
            excess = {
                k: v
                - statistics.median(
                    [o.phases[k] for o in runs if o is not r and k in o.phases] or [0.0]
                )
                for k, v in r.phases.items()
                if v == v and k in _CRITICAL_PHASES
            }
            worst = max(excess, key=lambda k: excess[k]) if excess else ""
            if worst in ("import torch", "fork->script"):
                r.stall_cause = f"not a store stall: {worst} +{excess[worst]:.1f}s (CPU contention)"
            elif worst:
                r.stall_cause = f"5 s store-connect stall: {worst} +{excess[worst]:.1f}s"
            else:
                r.stall_cause = "5 s store-connect stall"


_CRITICAL_PHASES = (
    "death->first fork",
    "spawn stagger",
    "fork->script",
    "import torch",
    "init_process_group",
    "all_reduce",
)


def summarise(results: Sequence[RunResult]) -> dict[str, Any]:
    summary: dict[str, Any] = {"launchers": {}}
    for name in LAUNCHERS:
        runs = [r for r in results if r.launcher == name]
        ok = [r for r in runs if r.ok and r.recovery_s is not None]
        rec = [r.recovery_s for r in ok if r.recovery_s is not None]
        clean = [r.recovery_s for r in ok if r.recovery_s is not None and not r.stall]
        phases: dict[str, float | None] = {}
        for key in dict.fromkeys(k for r in ok for k in r.phases):
            vals = [r.phases[key] for r in ok if not r.stall and key in r.phases]
            phases[key] = _median([v for v in vals if v == v])
        summary["launchers"][name] = {
            "runs": len(runs),
            "ok": len(ok),
            "failed": len(runs) - len(ok),
            "failures": [f"run {r.index}: {r.error}" for r in runs if not r.ok],
            "stalls": sum(r.stall for r in ok),
            "stall_causes": [f"run {r.index}: {r.stall_cause}" for r in ok if r.stall],
            "recovery_median_s": _median(rec),
            "recovery_min_s": min(rec) if rec else None,
            "recovery_max_s": max(rec) if rec else None,
            "recovery_median_no_stall_s": _median(clean),
            "launcher_median_s": _median(
                [r.launcher_s for r in ok if r.launcher_s is not None and not r.stall]
            ),
            "workers_median_s": _median(
                [r.workers_s for r in ok if r.workers_s is not None and not r.stall]
            ),
            "phases_median_s": phases,
        }
    f, t = summary["launchers"]["ftrun"], summary["launchers"]["torchrun"]

    def ratio(key: str) -> float | None:
        a, b = f[key], t[key]
        return a / b if a is not None and b else None

    summary["ratio"] = ratio("recovery_median_s")
    summary["ratio_no_stall"] = ratio("recovery_median_no_stall_s")
    summary["launcher_ratio"] = ratio("launcher_median_s")
    # The workers part (interpreter, import torch, init) runs the same script under either
    # launcher and carries most of the host's noise; pooling it compares the launchers alone.
    pooled = _median(
        [r.workers_s for r in results if r.ok and r.workers_s is not None and not r.stall]
    )
    summary["workers_pooled_median_s"] = pooled
    pairs = _paired_ratios(results)
    summary["paired_ratios"] = pairs
    summary["paired_ratio_median"] = _median(pairs)
    fl, tl = f["launcher_median_s"], t["launcher_median_s"]
    summary["ratio_pooled_workers"] = (
        (fl + pooled) / (tl + pooled) if None not in (fl, tl, pooled) else None
    )
    summary["target_ratio"] = TARGET_RATIO
    summary["torchrun_reference_s"] = TORCHRUN_REFERENCE_S
    summary["runs"] = [asdict(r) for r in results]
    return summary


def _paired_ratios(results: Sequence[RunResult]) -> list[float]:
    """ftrun/torchrun recovery per run index where both recovered (back-to-back, same load)."""
    ok = {(r.launcher, r.index): r.recovery_s for r in results if r.ok and not r.stall}
    out = []
    for (name, index), f in ok.items():
        t = ok.get(("torchrun", index))
        if name == "ftrun" and f is not None and t:
            out.append(f / t)
    return out


def _s(x: float | None, width: int = 6) -> str:
    return f"{x:{width}.2f}" if x is not None else " " * (width - 1) + "-"


def _pct(x: float | None) -> str:
    return f"{100 * x:4.0f}%" if x is not None else "    -"


def _sec(x: float | None) -> str:
    return f"{x:.2f} s" if x is not None else "n/a"


def _r(x: float | None) -> str:
    return f"{x:.2f}" if x is not None else "n/a"


def print_report(results: Sequence[RunResult], summary: dict[str, Any], phases: bool) -> None:
    print()
    print(
        f"{'run':>3} {'launcher':<8} {'status':<6} {'recovery':>8} {'launcher':>8} "
        f"{'workers':>8} {'idle':>5}  note"
    )
    for r in results:
        status = "ok" if r.ok else ("hung" if r.timed_out else "FAILED")
        note = f"outlier > median+{STALL_S:g}s; {r.stall_cause}" if r.stall else r.error[:110]
        print(
            f"{r.index:>3} {r.launcher:<8} {status:<6} {_s(r.recovery_s, 8)} "
            f"{_s(r.launcher_s, 8)} {_s(r.workers_s, 8)} {_pct(r.idle_before)}  {note}"
        )
    print()
    print(
        f"{'launcher':<8} {'ok':>5} {'failed':>6} {'outl.':>6} {'median':>7} {'min':>6} "
        f"{'max':>6} {'med-no-outl.':>12} {'launcher':>8} {'workers':>8}"
    )
    for name in LAUNCHERS:
        s = summary["launchers"][name]
        print(
            f"{name:<8} {s['ok']:>2}/{s['runs']:<2} {s['failed']:>6} {s['stalls']:>6} "
            f"{_s(s['recovery_median_s'], 7)} {_s(s['recovery_min_s'])} "
            f"{_s(s['recovery_max_s'])} {_s(s['recovery_median_no_stall_s'], 12)} "
            f"{_s(s['launcher_median_s'], 8)} {_s(s['workers_median_s'], 8)}"
        )
    if phases:
        print("\nmedian phases (s, runs without outliers; along the rank that imported last):")
        for name in LAUNCHERS:
            ph = summary["launchers"][name]["phases_median_s"]
            print(f"  {name:<8} " + ", ".join(f"{k} {_r(v)}" for k, v in ph.items()))
    f, t = summary["launchers"]["ftrun"], summary["launchers"]["torchrun"]
    print()
    print(
        f"recovery median without outliers: ftrun {_sec(f['recovery_median_no_stall_s'])}, "
        f"torchrun {_sec(t['recovery_median_no_stall_s'])}, "
        f"ratio {_r(summary['ratio_no_stall'])}"
    )
    pooled = summary["workers_pooled_median_s"]
    print(
        f"launcher part median: ftrun {_sec(f['launcher_median_s'])}, "
        f"torchrun {_sec(t['launcher_median_s'])}; with the pooled workers median "
        f"{_sec(pooled)} added to both: ratio {_r(summary['ratio_pooled_workers'])}"
    )
    pairs = summary["paired_ratios"]
    print(
        f"paired ratio (same run index, both recovered): median "
        f"{_r(summary['paired_ratio_median'])} over {len(pairs)} pairs "
        f"[{', '.join(f'{x:.2f}' for x in pairs)}]"
    )
    print(
        f"failed/hung recoveries: ftrun {f['failed']}/{f['runs']}, "
        f"torchrun {t['failed']}/{t['runs']}"
    )
    print(
        f"recovery median: ftrun {_sec(f['recovery_median_s'])}, "
        f"torchrun {_sec(t['recovery_median_s'])}, ratio {_r(summary['ratio'])} "
        f"(target <= {TARGET_RATIO}; torchrun reference ~{TORCHRUN_REFERENCE_S} s)"
    )


# -- main ------------------------------------------------------------------------------------
def _launcher_exe(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        sys.exit(f"recovery.py: {name} is not on PATH")
    return found


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    p.add_argument("--runs", type=int, default=5, help="runs per launcher (default 5)")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds per run (default 120)")
    p.add_argument(
        "--kill",
        choices=("exit", "sigkill"),
        default="exit",
        help="how rank 1 dies: os._exit(1) (default) or SIGKILL itself",
    )
    p.add_argument(
        "--survivor",
        choices=("hang", "raise"),
        default="hang",
        help="rank 0 after gloo reports the lost peer: keep blocking (default) or "
        "let the error propagate",
    )
    p.add_argument(
        "--launchers", default=",".join(LAUNCHERS), help="comma-separated subset of ftrun,torchrun"
    )
    p.add_argument(
        "--quiet",
        type=float,
        default=0.85,
        help="before each run, wait for the host CPU to be this idle (default 0.85)",
    )
    p.add_argument(
        "--quiet-wait",
        type=float,
        default=30.0,
        help="longest wait for a quiet host before a run, 0 to skip (default 30 s)",
    )
    p.add_argument("--keep", action="store_true", help="keep the temp dir (logs, records)")
    p.add_argument("--phases", action="store_true", help="print the median phase split")
    p.add_argument("--json", action="store_true", help="also print a JSON summary")
    args = p.parse_args(argv)
    chosen = [n for n in LAUNCHERS if n in args.launchers.split(",")]
    exes = {n: _launcher_exe(n) for n in chosen}

    work = Path(tempfile.mkdtemp(prefix="recovery_bench_"))
    script = work / "worker.py"
    script.write_text(WORKER_SRC)
    # Warm the page cache so the first run does not pay a cold `import torch`.
    subprocess.run([sys.executable, "-c", "import torch.distributed"], check=False)

    results: list[RunResult] = []
    try:
        for i in range(args.runs):
            order = chosen if i % 2 == 0 else chosen[::-1]
            for name in order:
                r = run_one(name, exes[name], i, script, work, args)
                results.append(r)
                shown = f"{r.recovery_s:.2f} s" if r.ok and r.recovery_s else f"FAILED ({r.error})"
                print(f"run {i} {name}: recovery {shown} [{r.wall_s:.1f} s wall]", flush=True)
    except KeyboardInterrupt:
        print("interrupted; reporting the runs so far", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")

    flag_stalls(results)
    summary = summarise(results)
    print_report(results, summary, args.phases)
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())

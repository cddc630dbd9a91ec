"""What the embedded engine costs a worker's logging: ftrun's tee with the engine on vs off.

    python bench/tee_overhead.py [--lines 200000] [--runs 5] [--mixes mix,steps,megatron,quiet]

A real worker subprocess logs N lines to its stdout as fast as it can, flushing after every
line, and times itself: `--workers write` (ready bytes, one write + flush per line: the floor,
the hardest case for the launcher), `print` (`print(line, flush=True)`), `logging`
(`logging.info` through a `StreamHandler` on stdout, which flushes every record). Its output goes
through the launcher's real path: `LogPump` (per-rank file + `[rank0]:` console tee, the console
here is /dev/null) and, with the engine on, `NodeAnalysis` (one write per chunk to the analysis
process, which scans; started once per mix, a cycle per run, like ftrun's). Engine on and off
alternate, `--runs` pairs, medians reported. Per mix it prints:

* worker ns/line on vs off and the overhead (target: < 5 %): the cost the engine adds to the
  worker's logging;
* launcher CPU ns/line on vs off (the pump threads of this process) and the analysis process's
  CPU ns/line: what the engine costs in CPU even when it is off the worker's path;
* the failure-time answer: how long `digests_json()` takes once the worker is done (the
  backlog the analysis process had left), whether the digest counted every line (it must), and
  in how many runs it fell behind so far that old output was dropped unscanned;
* a reference without any tee: the worker writing to a file directly (what torchrun's
  redirects do).

Mixes: `mix` = lines of the generated multi-rank log of `rules_throughput.py` (Megatron
iteration lines, NCCL INFO, warnings, data-loader INFO, a few errors); `steps` = short step /
loss lines (every line a progress line); `megatron` = long Megatron iteration lines;
`quiet` = lines with no keyword. This is a shared 2-core machine: the worker and the launcher
each get their own cores (pinned, see `_pin_worker`; the analysis process shares the
launcher's); compare numbers of one run only.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from rules_throughput import generate

from resilience.agent.analysis import NodeAnalysis
from resilience.agent.logs import ConsoleSink, LogPump

WORKER = r"""
import logging, sys, time
mode = sys.argv[3]
raw = open(sys.argv[1], "rb").read()
if mode == "write":  # the floor: ready bytes, one write + flush per line
    lines = raw.splitlines(keepends=True)
    out = sys.stdout.buffer
    w, f = out.write, out.flush
    t = time.perf_counter()
    for line in lines:
        w(line)
        f()
elif mode == "print":  # print(..., flush=True) of each line
    lines = raw.decode().splitlines()
    t = time.perf_counter()
    for line in lines:
        print(line, flush=True)
else:  # logging.info through a StreamHandler on stdout (flushes every record)
    lines = raw.decode().splitlines()
    h = logging.StreamHandler(sys.stdout)
    h.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    log = logging.getLogger("train")
    log.addHandler(h)
    log.setLevel(logging.INFO)
    t = time.perf_counter()
    for line in lines:
        log.info("%s", line)
dt = time.perf_counter() - t
open(sys.argv[2], "w").write(repr(dt))
"""


def _lines(mix: str, n: int, tmp: Path) -> list[bytes]:
    if mix == "steps":
        return [f"step {i} loss {2 + i % 1000 / 1000:.3f} lr 3e-4 tokens/s {123456 + i % 977}\n"
                .encode() for i in range(n)]
    if mix == "quiet":
        return [f"loss {2 + i % 1000 / 1000:.3f} lr 3e-4 tokens/s {123456 + i % 977} mem 71.2 GB"
                "\n".encode() for i in range(n)]
    if mix == "megatron":
        return [(f" iteration {i:>8}/  500000 | consumed samples: {i * 512:>12} | elapsed time"
                 f" per iteration (ms): 1523.4 | learning rate: 2.998E-04 | lm loss: "
                 f"2.{i % 997:06d}E+00 | loss scale: 1.0 | grad norm: 0.913 | number of skipped"
                 " iterations:   0 |\n").encode() for i in range(n)]
    path = tmp / "gen.log"
    generate(path, 400 * n)
    return path.read_bytes().splitlines(keepends=True)[:n]


_CPUS = sorted(os.sched_getaffinity(0))
_PIN = len(_CPUS) >= 2


def _pin_worker() -> None:
    """The worker on the first CPU, the launcher (this process) on the others: a GPU node has
    cores to spare for its agent, and without this the 2 cores of this machine are shared by
    worker, pump and drain, and the scheduler's noise hides the effect measured."""
    if _PIN:
        os.sched_setaffinity(0, _CPUS[:1])


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def _busy_loop() -> subprocess.Popen[bytes]:
    """A nice-0 process spinning on the launcher's CPU (dataloader workers on a busy node)."""
    return subprocess.Popen([sys.executable, "-c", "while True: pass"],
                            preexec_fn=lambda: os.sched_setaffinity(0, _CPUS[1:] or _CPUS))


def _proc_cpu(pid: int) -> float:
    """CPU seconds (user + system) of a live process, from /proc."""
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _run(src: Path, tmp: Path, analysis: NodeAnalysis | None, run: int,
         mode: str) -> dict[str, float]:
    result = tmp / "worker.time"
    scanner = 0.0
    if analysis is not None:
        analysis.start_cycle(run, range(1))
        analysis.digests_json()  # the analysis process is up and idle
        scanner = _proc_cpu(analysis.pid)
    with open(os.devnull, "wb") as null:
        cpu0 = _cpu()
        proc = subprocess.Popen([sys.executable, "-c", WORKER, str(src), str(result), mode],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                preexec_fn=_pin_worker)
        pump = LogPump(proc, 0, tmp / "rank0.log", ConsoleSink(null, null), True, True,
                       analysis.bind(0) if analysis else None)
        pump.start()
        proc.wait()
        pump.join(600)
        cpu1 = _cpu()
        t0 = time.perf_counter()
        lines, dropped = 0, 0
        if analysis is not None:
            digests = analysis.digests_json()
            lines = sum(int(d.split('"lines":')[1].split(",")[0]) for d in digests)
            dropped = sum('"truncated":true' in d for d in digests)
            scanner = _proc_cpu(analysis.pid) - scanner
        final = time.perf_counter() - t0
    (tmp / "rank0.log").unlink()
    return {"worker": float(result.read_text()), "cpu": cpu1 - cpu0, "final": final,
            "lines": lines, "dropped": dropped, "scanner": scanner}


def _direct(src: Path, tmp: Path, mode: str) -> float:
    result = tmp / "worker.time"
    with open(tmp / "direct.log", "wb") as out:
        subprocess.run([sys.executable, "-c", WORKER, str(src), str(result), mode], stdout=out,
                       preexec_fn=_pin_worker,
                       check=True)
    (tmp / "direct.log").unlink()
    return float(result.read_text())


def bench_mix(mix: str, mode: str, n: int, runs: int, tmp: Path) -> list[str]:
    lines = _lines(mix, n, tmp)
    src = tmp / f"{mix}.src"
    src.write_bytes(b"".join(lines))
    n = len(lines)
    on: list[dict[str, float]] = []
    off: list[dict[str, float]] = []
    analysis = NodeAnalysis("bench-host")  # started once, like ftrun's: a cycle per run
    analysis.start()
    try:
        for i in range(runs):
            for engine in ((True, False) if i % 2 else (False, True)):
                (on if engine else off).append(
                    _run(src, tmp, analysis if engine else None, i, mode))
    finally:
        analysis.close()
    direct = statistics.median(_direct(src, tmp, mode) for _ in range(runs))

    def med(rs: list[dict[str, float]], key: str) -> float:
        return statistics.median(r[key] for r in rs)

    ns = 1e9 / n
    w_on, w_off = med(on, "worker"), med(off, "worker")
    counted = {int(r["lines"]) for r in on}
    return [
        f"{mix} lines, worker logs with {mode}: {n} lines, {len(src.read_bytes()) / n:.0f} "
        f"bytes/line, {runs} runs each",
        f"  worker logging, engine off   {w_off * ns:7.0f} ns/line   (to a file, no tee: "
        f"{direct * ns:.0f} ns/line)",
        f"  worker logging, engine on    {w_on * ns:7.0f} ns/line   overhead "
        f"{100 * (w_on / w_off - 1):+5.1f} %  (runs: "
        + " ".join(f"{100 * (a['worker'] / b['worker'] - 1):+.0f}"
                   for a, b in zip(on, off, strict=True))
        + ")",
        f"  launcher CPU, engine off     {med(off, 'cpu') * ns:7.0f} ns/line",
        f"  launcher CPU, engine on      {med(on, 'cpu') * ns:7.0f} ns/line   (+ the analysis "
        f"process: {med(on, 'scanner') * ns:.0f} ns/line)",
        f"  failure-time answer (digest){med(on, 'final') * 1e3:7.1f} ms median, "
        f"{max(r['final'] for r in on) * 1e3:.1f} ms max; digest counted "
        f"{'every line' if counted == {n} else f'{sorted(counted)} of {n} lines'}; "
        f"unscanned output dropped in {sum(r['dropped'] > 0 for r in on)} of {runs} runs",
    ]


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--lines", type=int, default=200_000)
    p.add_argument("--runs", type=int, default=5)
    p.add_argument("--mixes", default="mix,steps,megatron,quiet")
    p.add_argument("--contend", action="store_true",
                   help="run a busy loop on the launcher's CPU during the runs (a busy node)")
    p.add_argument("--workers", default="write,print,logging",
                   help="how the worker logs: write (ready bytes + flush, the floor), print "
                        "(print(line, flush=True)), logging (logging.info via StreamHandler)")
    args = p.parse_args(argv)
    if _PIN:
        os.sched_setaffinity(0, _CPUS[1:])
    print(f"python {sys.version.split()[0]}, {os.cpu_count()} cpus, load "
          f"{os.getloadavg()[0]:.2f}; worker pinned to cpu {_CPUS[0]}, launcher and analysis "
          f"process to "
          f"{_CPUS[1:] if _PIN else 'the same'}")
    busy = _busy_loop() if args.contend else None
    if busy is not None:
        print("a busy loop shares the launcher's CPU (--contend)")
    with tempfile.TemporaryDirectory() as tmp, contextlib.ExitStack() as stack:
        if busy is not None:
            stack.callback(busy.kill)
        for mode in args.workers.split(","):
            for mix in args.mixes.split(","):
                for line in bench_mix(mix, mode, args.lines, args.runs, Path(tmp)):
                    print(line, flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())

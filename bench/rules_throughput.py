# ruff: noqa: E501  (long f-string templates of log lines)
"""Throughput of the rules engine: file path and streaming path, next to grep.

    python bench/rules_throughput.py [--size-mb 500] [--stream-mb 64] [--dir /tmp]

Generates a multi-rank training log of --size-mb (iteration lines, NCCL INFO, warnings,
interleaved ranks; a real failure at the end), then reports:
  * analyze_file over the whole file (tail window off) and with the default 64 MiB tail, in
    MB/s of wall time and of this process's CPU time (the box may be shared);
  * `grep -c -E` with the same keyword alternation (the practical ceiling);
  * streaming, per line, on three line mixes (the first --stream-mb of the log; training step
    lines `step 1234 loss 2.345 lr 3e-4 tokens/s 123456`, progress lines that are all parsed;
    lines holding no keyword): `Analyzer.feed_line_bytes` (one line at a time) and
    `queue_bytes` + drain (the agent's path: the pump queues chunks, a drain thread scans)
    next to a write + flush per line. What the worker feels of it is measured by
    `bench/tee_overhead.py`.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from resilience.attribution import Analyzer, analyze_file
from resilience.attribution.progress import STEP_PATTERNS
from resilience.attribution.registry import KEYWORDS

MB = 1 << 20


def _block(seed: int) -> str:
    lines = []
    for i in range(4000):
        r, it = i % 64, seed * 4000 + i
        k = i % 20
        if k == 0:
            lines.append(f"[rank63]: [2024-10-21 08:10:{i % 60:02d}] iteration {it:8d}/ 5000000 | "
                         f"consumed samples: {it * 512:12d} | elapsed time per iteration (ms): 1523.4 "
                         f"| learning rate: 2.998E-04 | lm loss: 2.{it % 10**6:06d}E+00 | loss scale: "
                         "1.0 | grad norm: 0.913 | number of skipped iterations:   0 |")
        elif k < 12:
            lines.append(f"[rank{r}]:node-{r // 8:03d}:{40000 + r}:{40100 + r} [{r % 8}] NCCL INFO "
                         f"Channel {k:02d}/0 : {r}[{r % 8}] -> {(r + 1) % 64}[{(r + 1) % 8}] via "
                         "P2P/IPC/read")
        elif k < 15:
            lines.append(f"[rank{r}]:/usr/lib/python3.10/site-packages/torch/utils/data/dataloader.py"
                         ":557: UserWarning: This DataLoader will create 16 worker processes in total.")
        else:
            lines.append(f"[rank{r}]: [2024-10-21 08:10:{i % 60:02d},{i % 1000:03d}] INFO data: "
                         f"loaded shard {it % 9973:05d} in 0.{i % 97:02d}s, queue depth {i % 17}")
    return "\n".join(lines) + "\n"


FAILURE = (
    "[rank3]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 3.50 GiB. GPU 3 has a "
    "total capacity of 79.11 GiB of which 1.02 GiB is free.\n"
    + "".join(f"[rank{r}]:[E1021 08:45:12.1 ProcessGroupNCCL.cpp:616] [Rank {r}] Watchdog caught "
              "collective operation timeout: WorkNCCL(SeqNum=9) ran for 600017 milliseconds before "
              "timing out.\n" for r in range(64) if r != 3)
)


def generate(path: Path, size: int) -> None:
    blocks = [_block(s).encode() for s in range(8)]
    written = 0
    with path.open("wb") as f:
        i = 0
        while written < size:
            b = blocks[i % len(blocks)]
            f.write(b)
            written += len(b)
            i += 1
        f.write(FAILURE.encode())


def _timed(fn):  # type: ignore[no-untyped-def]
    t0 = time.perf_counter()
    out = fn()
    return out, time.perf_counter() - t0


def _cpu_timed(fn):  # type: ignore[no-untyped-def]
    t0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - t0, time.process_time() - c0


def bench_file(path: Path) -> list[str]:
    size = path.stat().st_size
    lines = int(subprocess.run(["wc", "-l", str(path)], capture_output=True, text=True,
                               check=True).stdout.split()[0])
    analyze_file(path, tail_bytes=64 * MB)  # warm the page cache
    v, dt, cpu = _cpu_timed(lambda: analyze_file(path, tail_bytes=None))
    _, dt_tail, cpu_tail = _cpu_timed(lambda: analyze_file(path))
    tail = min(size, 64 * MB) / MB
    out = [f"file: {size / MB:.0f} MiB, {lines} lines -> {v.action.value}/{v.category.value} "
           f"ranks={list(v.culprit_ranks)}",
           f"analyze_file (whole file)    {size / MB / dt:8.1f} MB/s  {lines / dt / 1e6:6.2f} M lines/s"
           f"  ({dt:.2f} s; CPU {size / MB / cpu:.1f} MB/s)",
           f"analyze_file (64 MiB tail)   {tail / dt_tail:8.1f} MB/s  "
           f"({dt_tail:.2f} s for the default window; CPU {tail / cpu_tail:.1f} MB/s)"]
    grep = shutil.which("grep")
    if grep:
        keywords = (*KEYWORDS, *(lit.decode() for lit, _ in STEP_PATTERNS), "heckpoint")
        alternation = "|".join(re.escape(k) for k in keywords)
        res, dt_g = _timed(lambda: subprocess.run([grep, "-c", "-E", alternation, str(path)],
                                                  capture_output=True, text=True, check=False))
        out.append(f"grep -c -E (same keywords)   {size / MB / dt_g:8.1f} MB/s  "
                   f"{lines / dt_g / 1e6:6.2f} M lines/s  ({res.stdout.strip()} matching lines)")
    return out


def _stream_case(name: str, lines: list[bytes]) -> list[str]:
    n = len(lines)
    texts = [line.decode() for line in lines]
    ns = 1e9 / n
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "worker.out"
        src.write_bytes(b"".join(lines))
        with open(Path(tmp) / "w.log", "ab") as sink:
            def write_flush() -> None:
                for line in lines:
                    sink.write(line)
                    sink.flush()
            _, t_flush = _timed(write_flush)
        a = Analyzer()
        _, t_line = _timed(lambda: ([a.feed_line_bytes(line) for line in lines], a.digest()))
        b = Analyzer()
        _, t_feed = _timed(lambda: ([b.feed(text) for text in texts], b.digest()))
        c = Analyzer(batch_lines=None)
        _, t_drain = _timed(lambda: (c.queue_bytes(src.read_bytes()), c.digest()))
    return [f"{name}: {n} lines, {sum(map(len, lines)) / n:.0f} bytes/line",
            f"  write + flush (LogPump's file write)   {t_flush * ns:7.0f} ns/line",
            f"  Analyzer.feed_line_bytes               {t_line * ns:7.0f} ns/line  = "
            f"{100 * t_line / t_flush:5.1f} % of write+flush",
            f"  Analyzer.feed (str)                    {t_feed * ns:7.0f} ns/line",
            f"  queue_bytes + drain (the agent's path) {t_drain * ns:7.0f} ns/line  (CPU of the "
            "drain thread; bench/tee_overhead.py measures what the worker sees)"]


def bench_stream(path: Path, stream_bytes: int) -> list[str]:
    with path.open("rb") as f:
        data = f.read(stream_bytes)
    mix = data[:data.rfind(b"\n") + 1].splitlines(keepends=True)
    n = min(len(mix), 400_000)
    steps = [f"step {i} loss {2 + i % 1000 / 1000:.3f} lr 3e-4 tokens/s {123456 + i % 977}\n"
             .encode() for i in range(n)]
    quiet = [f"loss {2 + i % 1000 / 1000:.3f} lr 3e-4 tokens/s {123456 + i % 977} mem 71.2 GB\n"
             .encode() for i in range(n)]
    return (_stream_case(f"stream, log mix ({len(data) / MB:.0f} MiB)", mix)
            + _stream_case("stream, step lines", steps)
            + _stream_case("stream, lines without keywords", quiet))


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size-mb", type=int, default=500)
    p.add_argument("--stream-mb", type=int, default=64,
                   help="MiB of the log fed line by line to the streaming analyzer (0: skip)")
    p.add_argument("--dir", default=None, help="where to write the generated log (temp dir)")
    args = p.parse_args(argv)
    if args.dir is not None and not os.path.isdir(args.dir):
        p.error(f"--dir {args.dir}: no such directory; create it or leave --dir out")
    if args.size_mb < 1 or args.stream_mb < 0:
        p.error(f"--size-mb {args.size_mb} / --stream-mb {args.stream_mb}: the log needs at "
                "least 1 MiB, and the stream 0 MiB (skipped) or more")
    with tempfile.TemporaryDirectory(dir=args.dir) as tmp:
        path = Path(tmp) / "multi_rank.log"
        _, dt = _timed(lambda: generate(path, args.size_mb * MB))
        print(f"generated {path.stat().st_size / MB:.0f} MiB in {dt:.1f} s "
              f"(python {sys.version.split()[0]}, {os.cpu_count()} cpus)")
        stream = bench_stream(path, args.stream_mb * MB) if args.stream_mb else []
        for line in bench_file(path) + stream:
            print(line)
    return 0


if __name__ == "__main__":
    sys.exit(main())

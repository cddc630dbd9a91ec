"""Load benchmark of `resilience serve` (a real subprocess) with the real engine.

    python bench/service_load.py [--files 20] [--requests 200] [--rounds 3] [--lines 2000]

Writes per-rank logs (one OOM, the rest NCCL-timeout cascades, padded with progress lines),
starts `resilience serve --port 0` with rate limits off, fires ``--requests`` concurrent
``GET /logs?wait=`` spread over ``--files`` files, then repeats (later rounds are ledger hits),
and prints wall time, request rate and the service's own /stats.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx

PAD = "[rank{r}]: iteration {i} | loss 2.31 | lr 1e-4 | step time 0.51 s\n"
OOM = "[rank{r}]: torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB\n"
NCCL = "[rank{r}]: Watchdog caught collective operation timeout: WorkNCCL(SeqNum=7) ran for " \
       "600000 milliseconds before timing out\n"


def write_logs(root: Path, files: int, lines: int) -> list[str]:
    folder = root / "cycle_1"
    folder.mkdir(parents=True)
    for r in range(files):
        body = "".join(PAD.format(r=r, i=i) for i in range(lines))
        (folder / f"rank_{r}.log").write_text(body + (OOM if r == 0 else NCCL).format(r=r))
    return [f"cycle_1/rank_{r}.log" for r in range(files)]


def start(root: Path) -> tuple[subprocess.Popen[str], str]:
    cmd = [sys.executable, "-m", "resilience.cli", "serve", "--allowed-root", str(root),
           "--port", "0", "--log-level", "warning", "--analyze-rate", "0"]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None
    line = proc.stdout.readline()
    m = re.search(r"listening on (http://\S+)", line)
    if not m:
        proc.kill()
        raise SystemExit(f"no startup line: {line!r}")
    url = m.group(1)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{url}/healthz", timeout=1).status_code == 200:
                return proc, url
        except httpx.HTTPError:
            time.sleep(0.05)
    proc.kill()
    raise SystemExit("service did not become healthy")


async def burst(url: str, paths: list[str], n: int) -> tuple[float, dict[int, int]]:
    limits = httpx.Limits(max_connections=n, max_keepalive_connections=n)
    async with httpx.AsyncClient(base_url=url, timeout=120, limits=limits) as client:
        t0 = time.perf_counter()
        answers = await asyncio.gather(*(
            client.get("/logs", params={"log_path": paths[i % len(paths)], "cycle_id": 1,
                                        "wait": 60}) for i in range(n)))
        took = time.perf_counter() - t0
    codes: dict[int, int] = {}
    for a in answers:
        codes[a.status_code] = codes.get(a.status_code, 0) + 1
    return took, codes


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--requests", type=int, default=200)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--lines", type=int, default=2000, help="padding lines per log")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        paths = write_logs(root, args.files, args.lines)
        size = sum(os.path.getsize(root / p) for p in paths)
        proc, url = start(root)
        try:
            print(f"{args.files} files, {size / 1e6:.1f} MB total, {args.requests} concurrent "
                  f"requests per round, server {url}")
            for rnd in range(args.rounds):
                took, codes = asyncio.run(burst(url, paths, args.requests))
                print(f"round {rnd}: {took:.3f} s, {args.requests / took:.0f} req/s, "
                      f"status {codes}")
            print(json.dumps(httpx.get(f"{url}/stats").json(), indent=1))
        finally:
            proc.send_signal(signal.SIGTERM)
            proc.wait(timeout=30)
    return 0


if __name__ == "__main__":
    sys.exit(main())

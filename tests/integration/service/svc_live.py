"""Helpers of the service's integration tests: real engine, real uvicorn, real subprocesses."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

OOM = "[rank{r}]: step 12\n[rank{r}]: torch.OutOfMemoryError: CUDA out of memory. " \
      "Tried to allocate 2.00 GiB\n"
NCCL = "[rank{r}]: step 12\n[rank{r}]: Watchdog caught collective operation timeout: " \
       "WorkNCCL(SeqNum=7, OpType=ALLREDUCE) ran for 600000 milliseconds before timing out\n"
URL_LINE = re.compile(r"listening on (http://\S+)")


def resilience_cmd() -> list[str]:
    """The installed `resilience` console script (as a user runs it), else ``-m``."""
    script = Path(sys.executable).parent / "resilience"
    return [str(script)] if script.exists() else [sys.executable, "-m", "resilience.cli"]


def write_cycle(root: Path, cycle: int, ranks: int, oom_rank: int | None) -> list[Path]:
    """``cycle_<c>/rank_<r>.log`` as the agent writes them; one rank OOMs, the rest cascade."""
    folder = root / f"cycle_{cycle}"
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for r in range(ranks):
        p = folder / f"rank_{r}.log"
        p.write_text((OOM if r == oom_rank else NCCL).format(r=r))
        paths.append(p)
    return paths


def wait_until(check: Callable[[], bool], timeout: float, what: str) -> None:
    """Poll ``check()`` until truthy or the deadline; then fail naming ``what``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if check():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")


class ServeProcess:
    """`resilience serve ... --port 0` as a user starts it; the URL comes from its stdout."""

    def __init__(self, *args: str, env: dict[str, str] | None = None) -> None:
        cmd = [*resilience_cmd(), "serve", "--port", "0",
               "--log-level", "warning", *args]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                     text=True, env={**os.environ, **(env or {})})
        self._lines: queue.Queue[str] = queue.Queue()
        threading.Thread(target=self._pump, daemon=True).start()
        self.url = self._read_url(timeout=30)
        wait_until(self.healthy, 30, f"{self.url}/healthz")

    def _pump(self) -> None:
        assert self.proc.stdout is not None
        for line in self.proc.stdout:
            self._lines.put(line)

    def _read_url(self, timeout: float) -> str:
        deadline = time.monotonic() + timeout
        while (left := deadline - time.monotonic()) > 0:
            try:
                line = self._lines.get(timeout=left)
            except queue.Empty:
                break
            if m := URL_LINE.search(line):
                return m.group(1)
        self.proc.kill()
        _, err = self.proc.communicate()
        raise AssertionError(f"resilience serve printed no URL; stderr: {err}")

    def healthy(self) -> bool:
        try:
            return httpx.get(f"{self.url}/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(timeout=30)

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        return self.proc.returncode


@contextmanager
def serve_process(*args: str) -> Iterator[ServeProcess]:
    srv = ServeProcess(*args)
    try:
        yield srv
    finally:
        srv.stop()

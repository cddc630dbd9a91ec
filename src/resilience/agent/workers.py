"""Worker processes behind one small interface (:class:`WorkerGroup`).

The agent loop only calls ``start``/``poll``/``stop``/``signal``; a warm-worker pool can later
replace :class:`SubprocessWorkers` without touching the loop. Each worker:

* runs in its own process group, so a stop reaches the worker's own children too;
* gets ``PR_SET_PDEATHSIG=SIGKILL``, so it dies with ``ftrun`` even when ``ftrun`` is SIGKILLed
  (torchrun leaves workers running in that case);
* has stdout/stderr piped through :class:`~resilience.agent.logs.LogPump` into its per-cycle
  log file, the console and the line hook.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import subprocess
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from resilience.agent.logs import ConsoleSink, LineHook, LogPump
from resilience.errors import WorkerSpawnError
from resilience.records import WorkerExit

__all__ = ["SubprocessWorkers", "WorkerGroup", "WorkerLaunch"]

_PR_SET_PDEATHSIG = 1


@dataclass(frozen=True)
class WorkerLaunch:
    local_rank: int
    rank: int
    argv: tuple[str, ...]
    env: dict[str, str] = field(repr=False)
    log_path: Path
    error_file: Path
    console_stdout: bool
    console_stderr: bool


class WorkerGroup(Protocol):
    def start(self, launches: Sequence[WorkerLaunch]) -> None: ...
    def poll(self) -> list[WorkerExit]:
        """Workers that exited since the last call."""
        ...

    def running(self) -> int: ...
    def stop(self, timeout: float) -> list[WorkerExit]:
        """SIGTERM every live worker, SIGKILL after ``timeout``; returns their exits."""
        ...

    def signal(self, sig: int) -> None: ...


def _die_with_parent(parent: int) -> Callable[[], None]:
    libc = ctypes.CDLL(None, use_errno=True)  # resolved before fork: nothing to load in the child

    def preexec() -> None:
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        if os.getppid() != parent:  # the launcher died between fork and prctl
            os._exit(1)

    return preexec


@dataclass
class _Live:
    launch: WorkerLaunch
    proc: subprocess.Popen[bytes]
    pump: LogPump


class SubprocessWorkers:
    def __init__(
        self, console: ConsoleSink, hooks: Callable[[int], LineHook | None] | None = None
    ) -> None:
        self._console = console
        self._hooks = hooks  # rank -> the hook of that worker's pumps (bound per spawn)
        self._live: list[_Live] = []

    def start(self, launches: Sequence[WorkerLaunch]) -> None:
        preexec = _die_with_parent(os.getpid())
        for launch in launches:
            launch.log_path.parent.mkdir(parents=True, exist_ok=True)
            try:
                proc = subprocess.Popen(
                    list(launch.argv),
                    env=launch.env,
                    stdin=subprocess.DEVNULL,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    preexec_fn=preexec,
                    process_group=0,
                )
            except OSError as exc:
                self.stop(timeout=5)
                raise WorkerSpawnError(
                    f"cannot start worker {launch.argv[0]!r}: {exc.strerror}; check the "
                    f"script path and --no-python"
                ) from exc
            pump = LogPump(
                proc,
                launch.rank,
                launch.log_path,
                self._console,
                launch.console_stdout,
                launch.console_stderr,
                self._hooks(launch.rank) if self._hooks is not None else None,
            )
            pump.start()
            self._live.append(_Live(launch, proc, pump))

    def running(self) -> int:
        return len(self._live)

    def poll(self) -> list[WorkerExit]:
        exits = []
        for live in list(self._live):
            code = live.proc.poll()
            if code is not None:
                exits.append(self._finish(live, code))
        return exits

    def _finish(self, live: _Live, code: int) -> WorkerExit:
        self._live.remove(live)
        _kill_group(live.proc.pid, signal.SIGKILL)  # the worker's own children, if any are left
        live.pump.join(timeout=2.0)
        return WorkerExit(
            local_rank=live.launch.local_rank,
            rank=live.launch.rank,
            exitcode=code if code >= 0 else None,
            signal=-code if code < 0 else None,
            at=time.time(),
            error_message=_error_message(live.launch.error_file),
        )

    def signal(self, sig: int) -> None:
        for live in self._live:
            _kill_group(live.proc.pid, sig)

    def stop(self, timeout: float) -> list[WorkerExit]:
        exits = self.poll()
        if not self._live:
            return exits
        self.signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        while self._live and time.monotonic() < deadline:
            exits += self.poll()
            if self._live:
                time.sleep(0.002)
        self.signal(signal.SIGKILL)
        for live in list(self._live):
            exits.append(self._finish(live, live.proc.wait()))
        return exits


def _kill_group(pid: int, sig: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)


def _error_message(path: Path) -> str:
    """The exception message torch's @record wrote, if any (best effort, never raises)."""
    try:
        data = json.loads(path.read_text())
        message = data.get("message", {})
        if isinstance(message, dict):
            return str(message.get("message", ""))[:500]
        return str(message)[:500]
    except (OSError, ValueError, AttributeError):
        return ""

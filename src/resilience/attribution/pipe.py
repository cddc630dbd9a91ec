"""The analysis process: the node's streaming analysers, fed over a pipe.

``ftrun`` starts one per node (``python -m resilience.attribution.pipe HOST PARENT_PID``) and
writes its workers' output to the process's stdin as frames; the process scans them and, on
request, answers with the digests. Scanning in its own process, at a lower priority, keeps the
scan off the launcher's GIL and CPU time, which its log pumps need to keep the workers' pipes
empty (measured, bench/tee_overhead.py, Megatron lines written flat out: a drain thread in the
launcher cost the worker +20-25 %, this process +1-5 %).

Frames: a `HEADER` (kind, stream, rank, payload length, bytes and lines dropped before this
chunk) and the payload.

* `DATA`: a chunk of one stream (rank, stdout or stderr) of the current cycle.
* `CYCLE`: a new cycle (`rank` holds the cycle id; the payload is its ranks, JSON): fresh
  analysers, one per (rank, stream), so that each sees its stream's own line order.
* `DIGEST`: answer on stdout with `REPLY` (payload length) and the digests, one JSON object a
  line. Frames are handled in order, so the answer covers every chunk written before it.

The process exits at the end of its stdin (the launcher closed it or is gone) and with its
parent (``PR_SET_PDEATHSIG``): it never outlives ``ftrun``. It ignores SIGINT and SIGTERM,
which a terminal or the scheduler sends to the whole process group: the launcher, which gets
them too, may still ask it for the last digests before it closes the pipe.
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import signal
import struct
import sys
from typing import BinaryIO

from .analyzer import Analyzer

__all__ = ["CYCLE", "DATA", "DIGEST", "HEADER", "REPLY", "main", "serve"]

HEADER = struct.Struct("<BBiIQQ")  # kind, stderr, rank, length, dropped bytes, dropped lines
REPLY = struct.Struct("<I")  # length of the digests that follow
DATA, CYCLE, DIGEST = 1, 2, 3
# Below the launcher: where both share a busy CPU, its pumps, which keep the workers' pipes
# empty, come first (bench/tee_overhead.py, Megatron lines written flat out, launcher and this
# process on one CPU: worker +48 % at nice 0, +1 % at 10, +5 % at 19). Not 19: at failure time
# the backlog (at most the pipe and the launcher's queue, ~5 MiB, ~40 ms of scan) must still
# get CPU on a node whose cores are all busy.
NICE = 10
_PR_SET_PDEATHSIG = 1


def serve(inp: BinaryIO, out: BinaryIO, host: str) -> None:
    """Handle frames from `inp` until its end."""
    analyzers: dict[tuple[int, bool], Analyzer] = {}
    while len(head := inp.read(HEADER.size)) == HEADER.size:
        kind, err, rank, length, dropped_bytes, dropped_lines = HEADER.unpack(head)
        payload = inp.read(length) if length else b""
        if len(payload) != length:
            return
        if kind == DATA:
            analyzer = analyzers.get((rank, bool(err)))
            if analyzer is not None:
                if dropped_bytes:
                    analyzer.skip(dropped_bytes, dropped_lines)
                analyzer.feed_bytes(payload)
        elif kind == CYCLE:
            analyzers = {
                (r, e): Analyzer(rank=r, node=host, cycle_id=rank, batch_lines=None,
                                 split_restarts=False)
                for r in json.loads(payload)
                for e in (False, True)
            }
        elif kind == DIGEST:
            body = "\n".join(a.digest().to_json() for a in analyzers.values()).encode()
            out.write(REPLY.pack(len(body)) + body)
            out.flush()
        else:
            raise ValueError(f"unknown frame kind {kind} (launcher and analysis process "
                             "from different versions?)")


def _die_with(parent: int) -> None:
    with contextlib.suppress(OSError, AttributeError):  # Linux only; stdin's end covers the rest
        ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != parent:  # the launcher died before the prctl
        sys.exit(0)


def main(argv: list[str] | None = None) -> int:
    host, parent = (argv if argv is not None else sys.argv[1:])[:2]
    _die_with(int(parent))
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    warm = Analyzer(rank=0)  # compile the pattern registry now, not at the first error
    warm.feed("RuntimeError: warm-up")
    warm.digest()
    os.nice(NICE)  # after the start-up: a worker that fails at once gets its digest in time
    with contextlib.suppress(BrokenPipeError):  # the launcher went away mid-answer
        serve(sys.stdin.buffer, sys.stdout.buffer, host)
    return 0


if __name__ == "__main__":
    sys.exit(main())

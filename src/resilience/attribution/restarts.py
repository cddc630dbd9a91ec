"""torchelastic's own restarts (`torchrun --max-restarts`) as cycles of one log.

The agent prints `[default] Worker group FAILED. 2/3 attempts left; will restart worker group`
within three lines of its `failed (exitcode: 1) local_rank: ...` line (a keyword line, so no
keyword is added for this). Attempt 0 is cycle 0, so the next attempt is cycle
`max_restarts - left + 1`. The analyzer switches cycles where the restart line ends, whatever
the buffers the log is scanned in (`RestartWatch` carries what it still has to look at from
one buffer to the next). An attempt that shows no activity of its own (no progress, no
launcher record: a straggler's last line, a note pasted under the restart line) is no attempt:
`merge_attempt` folds it back into the one before.
"""

from __future__ import annotations

import re

from .digest import NodeDigest

__all__ = ["RestartWatch", "merge_attempt"]

_RESTART = re.compile(
    rb"Worker group FAILED\. (\d{1,6})/(\d{1,6}) attempts left; will restart worker group")
_LINES = 3  # lines after the failure line looked at
_BYTES = 4096  # ... within this many bytes in all


class RestartWatch:
    """Looks for the restart line in the lines after an agent's failure line."""

    def __init__(self) -> None:
        self.left = 0  # lines still to look at
        self.budget = 0  # bytes still to look at

    def start(self) -> None:
        """An agent's failure line was just read."""
        self.left, self.budget = _LINES, _BYTES

    def look(self, buf: bytes, at: int, end: int) -> tuple[int, int] | None:
        """(cycle id of the next attempt, offset in `buf` just past the restart line) if the
        whole lines of `buf[at:end]` (those that follow the last line looked at) hold it; else
        None, and what is left to look at waits for the next buffer."""
        cap = min(end, at + self.budget)
        while self.left:
            nl = buf.find(b"\n", at, cap)
            if nl < 0:
                if cap < end:  # the budget ran out inside a line: give up
                    self.left = 0
                return None
            self.left, self.budget = self.left - 1, self.budget - (nl + 1 - at)
            if (m := _RESTART.search(buf, at, nl)) is not None:
                self.left = 0
                left, total = int(m.group(1)), int(m.group(2))
                return (total - left + 1, nl + 1) if left <= total else None
            at = nl + 1
        return None


def merge_attempt(prev: NodeDigest, cur: NodeDigest) -> NodeDigest:
    """`prev` with the lines of `cur` (an attempt that showed no progress and no launcher
    record) folded in: its candidates count the progress `prev` made before them."""
    moved = tuple(c.model_copy(update={"progress_seq": c.progress_seq + prev.progress_seq})
                  for c in cur.candidates)
    return prev.model_copy(update={
        "lines": cur.first_line + cur.lines - prev.first_line,
        "candidates": prev.candidates + moved,
        "elastic_roots": prev.elastic_roots + cur.elastic_roots,
        "dropped": prev.dropped + cur.dropped,
        "truncated": prev.truncated or cur.truncated,
        "rank_hosts": cur.rank_hosts | prev.rank_hosts,
        "pid_hosts": cur.pid_hosts | prev.pid_hosts,
        "pid_ranks": cur.pid_ranks | prev.pid_ranks,
        "host_ranks": cur.host_ranks | prev.host_ranks,
        "node_bases": cur.node_bases | prev.node_bases,
    })

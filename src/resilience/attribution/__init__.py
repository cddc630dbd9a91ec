"""Embedded attribution: read a failed cycle's logs, answer RESTART or STOP with a reason.

Invariants: decisions (`combine`, `apply_repeat_rule`) are pure functions of digests, history
and policy; nothing here reads the clock, the environment or the network; evidence lines are
verbatim from the input; candidate-line regexes only ever see the first 4 KiB of a line, and
the bulk progress regexes (`progress`) are literal-first with bounded quantifiers that never
cross a newline. Nothing happens at import.

    Analyzer.queue_bytes(chunk) / drain() ... -> NodeDigest  (per stream, streaming, bounded)
    combine(digests, cycle_id, policy) -> Verdict  (leader, pure)
    apply_repeat_rule(history, verdict, progressed) -> Verdict  (leader, pure)

Streaming input, one `Analyzer(rank=, node=, cycle_id=)` per worker stream:

* `queue_bytes(chunk)`: the launcher's path. The pump hands over each chunk it read (an
  append to a bounded inbox, never a scan); a drain thread calls `drain(max_bytes)` in slices.
* `feed_line_bytes(line)` / `feed(text)`: one line (a list append; two threads may feed at
  once); every `batch_lines` (4096) lines the batch is scanned on the caller's thread.
* `feed_bytes(chunk)`: raw chunks that may split lines, scanned now (the file reader).
  `flush()`: scan everything pending.
* `digest()` / `digests()`: thread-safe at any time; they scan what is pending first.
"""

from __future__ import annotations

from .analyzer import Analyzer
from .combine import DEFAULT_POLICY, combine
from .digest import DIGEST_SCHEMA, Candidate, ElasticRoot, NodeDigest
from .markers import CYCLE_MARKER, CYCLE_MARKER_RE, cycle_marker, parse_cycle_marker
from .policy import DEFAULT_ACTIONS, Policy, PolicyError, load_policy, policy_from_mapping
from .reader import (
    DEFAULT_TAIL_BYTES,
    analyze_file,
    analyze_lines,
    analyze_path,
    read_digests,
    verdict_for_cycles,
)
from .registry import Role
from .repeat import CycleRecord, apply_repeat_rule, made_progress
from .verdict import VERDICT_SCHEMA, Action, Category, Evidence, Verdict

__all__ = [
    "CYCLE_MARKER",
    "CYCLE_MARKER_RE",
    "DEFAULT_ACTIONS",
    "DEFAULT_POLICY",
    "DEFAULT_TAIL_BYTES",
    "DIGEST_SCHEMA",
    "VERDICT_SCHEMA",
    "Action",
    "Analyzer",
    "Candidate",
    "Category",
    "CycleRecord",
    "ElasticRoot",
    "Evidence",
    "NodeDigest",
    "Policy",
    "PolicyError",
    "Role",
    "Verdict",
    "analyze_file",
    "analyze_lines",
    "analyze_path",
    "apply_repeat_rule",
    "combine",
    "cycle_marker",
    "load_policy",
    "made_progress",
    "parse_cycle_marker",
    "policy_from_mapping",
    "read_digests",
    "verdict_for_cycles",
]

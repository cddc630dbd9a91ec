"""`resilience attribute LOG... [--json] [--cycle N] [--policy FILE] [--tail-bytes N]`.

Exit 0 whatever the verdicts; 2 if an input is unreadable or the policy file is bad (one line
on stderr naming the path and the fix; never a traceback). Inputs that can be read are still
reported when another one fails.
"""

from __future__ import annotations

import argparse
import sys
from typing import TextIO

from resilience.errors import ResilienceError

from .combine import DEFAULT_POLICY
from .policy import load_policy
from .reader import DEFAULT_TAIL_BYTES, analyze_path
from .verdict import Verdict

__all__ = ["add_arguments", "format_verdict", "run"]

_SHOWN_EVIDENCE = 3


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("logs", nargs="+", metavar="LOG",
                        help="log file, or a directory of rank_<r>.log files (cycle_<c>/ dirs)")
    parser.add_argument("--json", action="store_true",
                        help="print one resilience.verdict/1 JSON object per input, one per line")
    parser.add_argument("--cycle", type=int, default=None, metavar="N",
                        help="analyse cycle N of a multi-cycle log (default: the last cycle)")
    parser.add_argument("--policy", metavar="FILE", default=None,
                        help="YAML/JSON policy overriding the default category -> action table")
    parser.add_argument("--tail-bytes", type=int, default=DEFAULT_TAIL_BYTES, metavar="N",
                        help="read at most the last N bytes of each file (0: whole file)")


def format_verdict(source: str, v: Verdict) -> str:
    """The human-readable summary of one verdict."""
    culprits = []
    if v.culprit_ranks:
        culprits.append("ranks " + ",".join(map(str, v.culprit_ranks)))
    if v.culprit_nodes:
        culprits.append("nodes " + ",".join(v.culprit_nodes))
    out = [
        f"== {source} (cycle {v.cycle_id})",
        f"action:    {v.action.value}",
        f"category:  {v.category.value} (confidence {v.confidence:.2f})",
        f"culprits:  {'; '.join(culprits) or 'none identified'}",
        "evidence:",
    ]
    for e in v.evidence[:_SHOWN_EVIDENCE]:
        where = f"L{e.line}" if e.line is not None else "L?"
        text = e.text if len(e.text) <= 200 else e.text[:197] + "..."
        out.append(f"  {where}: {text}")
    if not v.evidence:
        out.append("  (none)")
    out.append(f"reason:    {v.reason}")
    return "\n".join(out)


def _emit(out: TextIO, source: str, v: Verdict, as_json: bool) -> None:
    out.write((v.to_json() if as_json else format_verdict(source, v) + "\n") + "\n")


def run(args: argparse.Namespace) -> int:
    policy = DEFAULT_POLICY
    try:
        if args.policy:
            policy = load_policy(args.policy)
    except ResilienceError as exc:
        print(f"resilience attribute: error: {exc}", file=sys.stderr)
        return 2
    code = 0
    tail = args.tail_bytes if args.tail_bytes and args.tail_bytes > 0 else None
    for log in args.logs:
        try:
            verdict = analyze_path(log, args.cycle, tail, policy=policy)
        except ResilienceError as exc:
            print(f"resilience attribute: error: {exc}", file=sys.stderr)
            code = 2
            continue
        except Exception as exc:  # the CLI shell: never a traceback
            print(f"resilience attribute: error: {log}: internal error ({type(exc).__name__}: "
                  f"{exc}); please report it", file=sys.stderr)
            code = 2
            continue
        _emit(sys.stdout, log, verdict, args.json)
        sys.stdout.flush()
    return code

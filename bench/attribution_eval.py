"""Accuracy of the embedded rules engine on a labelled corpus.

    python bench/attribution_eval.py [--corpus tests/data/attribution] [--verbose]

Prints action accuracy, STOP precision / recall, category accuracy and culprit accuracy
(exact set match of culprit_ranks, and of culprit_nodes where labelled) over labels.yaml.
Nodes match as the launcher's exclusion matches them (`hostnames.same_host`): `gpu-07` is
`gpu-07.cluster.local`. `--strict-nodes` compares node names exactly, as sessions 1-6 did.
"""

from __future__ import annotations

import argparse
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import yaml

from resilience.attribution import Action, Verdict, analyze_path
from resilience.hostnames import same_host

DEFAULT_CORPUS = Path(__file__).resolve().parent.parent / "tests" / "data" / "attribution"


@dataclass
class Outcome:
    name: str
    label: dict[str, object]
    verdict: Verdict
    strict_nodes: bool = False

    @property
    def action_ok(self) -> bool:
        return self.verdict.action.value == self.label["action"]

    @property
    def category_ok(self) -> bool:
        return self.verdict.category.value == self.label["category"]

    @property
    def culprit_ok(self) -> bool | None:
        checks = []
        if "culprit_ranks" in self.label:
            checks.append(sorted(self.verdict.culprit_ranks)
                          == sorted(cast(list[int], self.label["culprit_ranks"])))
        if "culprit_nodes" in self.label:
            want, got = cast(list[str], self.label["culprit_nodes"]), self.verdict.culprit_nodes
            checks.append(sorted(got) == sorted(want) if self.strict_nodes
                          else _same_nodes(list(got), want))
        return all(checks) if checks else None


def _same_nodes(got: list[str], want: list[str]) -> bool:
    return len(got) == len(want) and all(any(same_host(g, w) for g in got) for w in want) \
        and all(any(same_host(g, w) for w in want) for g in got)


def evaluate(corpus: Path, strict_nodes: bool = False) -> list[Outcome]:
    labels = yaml.safe_load((corpus / "labels.yaml").read_text(encoding="utf-8"))
    return [Outcome(name, label, analyze_path(corpus / "logs" / name), strict_nodes)
            for name, label in sorted(labels.items())]


def _pct(num: int, den: int) -> str:
    return f"{100.0 * num / den:6.1f} % ({num}/{den})" if den else "   n/a"


def report(outcomes: list[Outcome], verbose: bool) -> str:
    stop_pred = [o for o in outcomes if o.verdict.action is Action.STOP]
    stop_true = [o for o in outcomes if o.label["action"] == "STOP"]
    culprit = [o.culprit_ok for o in outcomes if o.culprit_ok is not None]
    lines = [
        f"logs:              {len(outcomes)}",
        f"action accuracy:   {_pct(sum(o.action_ok for o in outcomes), len(outcomes))}",
        f"STOP precision:    {_pct(sum(o.action_ok for o in stop_pred), len(stop_pred))}",
        f"STOP recall:       {_pct(sum(o.action_ok for o in stop_true), len(stop_true))}",
        f"category accuracy: {_pct(sum(o.category_ok for o in outcomes), len(outcomes))}",
        f"culprit accuracy:  {_pct(sum(culprit), len(culprit))}",
    ]
    for o in outcomes:
        if verbose or not (o.action_ok and o.category_ok and o.culprit_ok is not False):
            v = o.verdict
            lines.append(f"  {'ok ' if o.action_ok and o.category_ok else 'BAD'} {o.name}: got "
                         f"{v.action.value}/{v.category.value} ranks={list(v.culprit_ranks)} "
                         f"nodes={list(v.culprit_nodes)}; want {o.label['action']}/"
                         f"{o.label['category']} ranks={o.label.get('culprit_ranks', '-')} "
                         f"nodes={o.label.get('culprit_nodes', '-')}")
            if verbose:
                lines.append(f"      reason: {v.reason}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--corpus", type=Path, default=DEFAULT_CORPUS)
    parser.add_argument("--verbose", action="store_true")
    parser.add_argument("--strict-nodes", action="store_true",
                        help="compare culprit node names exactly (gpu-07 is not gpu-07.example)")
    args = parser.parse_args(argv)
    print(report(evaluate(args.corpus, args.strict_nodes), args.verbose))
    return 0


if __name__ == "__main__":
    sys.exit(main())

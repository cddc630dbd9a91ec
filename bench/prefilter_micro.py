"""Microbenchmark of the keyword prefilter (`scan.candidate_lines`), against a baseline version.

    python bench/prefilter_micro.py [--mb 4] [--block 65536] [--reps 9] [--baseline REV|PATH]
    python bench/prefilter_micro.py --without "slots=" --without "Num slots"

Four line types (about --mb MiB each): Megatron iteration lines (~230 bytes), the mix of
`bench/rules_throughput.py`'s `generate()` (iteration lines, NCCL INFO, warnings, data loader
lines), short step lines `step 123 loss 2.345 lr 3e-4 tokens/s 123456`, lines without keywords
`loss 2.345 lr 3e-4 tokens/s 123456 mem 71.2 GB`; plus the test corpus of failing jobs' logs
(error-heavy) when it is there. Each is cut into --block byte buffers of whole lines, as the
analyzer's drain scans them. The current `candidate_lines` and the baseline's (scan.py of git
revision REV, default 6c4ce1c: translate + sentinel + literal searches, or a file) run
alternately on every buffer, in both orders, --reps times; the report gives medians (ns/line,
MB/s) and checks that both return the same spans. The box may be shared: compare numbers of
one run only.

`--without KEYWORD` (repeatable) prices keywords instead: the baseline is the current
prefilter with the registry's keywords less those, so "old" is the set before they were added.
The spans then differ by the lines only the dropped keywords find.
"""

from __future__ import annotations

import argparse
import importlib.util
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

from resilience.attribution import scan
from resilience.attribution.registry import KEYWORDS

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
MB = 1 << 20
Scan = Callable[[bytes, int], list[tuple[int, int]]]


def load_baseline(spec: str) -> Scan:
    path = Path(spec)
    if path.is_file():
        source = path.read_text()
    else:
        source = subprocess.run(["git", "show", f"{spec}:src/resilience/attribution/scan.py"],
                                cwd=REPO, capture_output=True, text=True, check=True).stdout
    mod_spec = importlib.util.spec_from_loader("resilience.attribution._scan_baseline", None)
    assert mod_spec is not None
    module = importlib.util.module_from_spec(mod_spec)
    module.__package__ = "resilience.attribution"  # its `from .registry import KEYWORDS`
    exec(compile(source, f"{spec}:scan.py", "exec"), module.__dict__)
    return module.candidate_lines  # type: ignore[no-any-return]


def line_sets(size: int) -> dict[str, bytes]:
    def repeat(make: Callable[[int], str]) -> bytes:
        out, n, i = [], 0, 0
        while n < size:
            line = make(i).encode()
            out.append(line)
            n, i = n + len(line), i + 1
        return b"".join(out)

    sets = {
        "megatron": repeat(lambda i: (
            f" iteration {i:8d}/  500000 | consumed samples: {i * 512:12d} | elapsed time per "
            f"iteration (ms): 1523.4 | learning rate: 2.998E-04 | lm loss: 2.{i % 10**6:06d}E+00 "
            "| loss scale: 1.0 | grad norm: 0.913 | number of skipped iterations:   0 |\n")),
    }
    sys.path.insert(0, str(HERE))
    from rules_throughput import generate  # the throughput bench's log mix

    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "mix.log"
        generate(log, size)
        mix = log.read_bytes()
    sets["mix"] = mix[:mix.rfind(b"\n") + 1]
    sets["steps"] = repeat(
        lambda i: f"step {i} loss {2 + i % 1000 / 1000:.3f} lr 3e-4 tokens/s {123456 + i % 977}\n")
    sets["no keyword"] = repeat(lambda i: (
        f"loss {2 + i % 1000 / 1000:.3f} lr 3e-4 tokens/s {123456 + i % 977} mem 71.2 GB\n"))
    corpus = REPO / "tests" / "data" / "attribution"
    if corpus.is_dir():
        logs = b"".join(p.read_bytes().rstrip(b"\n") + b"\n" for p in sorted(corpus.rglob("*.log")))
        sets["error logs"] = logs
    return sets


def blocks(data: bytes, size: int) -> list[bytes]:
    out, i = [], 0
    while i < len(data):
        j = data.rfind(b"\n", i, i + size) + 1
        if j <= i:  # a line longer than the block
            j = data.find(b"\n", i) + 1 or len(data)
        out.append(data[i:j])
        i = j
    return out


def measure(bufs: list[bytes], impls: dict[str, Scan], reps: int) -> dict[str, float]:
    """Median seconds per pass over `bufs`, the implementations alternating on each buffer."""
    times: dict[str, list[float]] = {name: [] for name in impls}
    order = list(impls.items())
    for rep in range(reps):
        spent = dict.fromkeys(impls, 0.0)
        for k, buf in enumerate(bufs):
            for name, fn in order if (rep + k) % 2 else order[::-1]:
                t0 = time.perf_counter()
                fn(buf, len(buf))
                spent[name] += time.perf_counter() - t0
        for name, t in spent.items():
            times[name].append(t)
    return {name: statistics.median(t) for name, t in times.items()}


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--mb", type=float, default=4.0, help="MiB per line type")
    p.add_argument("--block", type=int, default=64 * 1024, help="bytes per buffer scanned")
    p.add_argument("--reps", type=int, default=9)
    p.add_argument("--baseline", default="6c4ce1c", help="git revision or scan.py file")
    p.add_argument("--without", action="append", default=[], metavar="KEYWORD",
                   help="baseline: the current prefilter without this registry keyword")
    args = p.parse_args(argv)
    impls: dict[str, Scan] = {"new": scan.candidate_lines}
    if args.without:
        unknown = set(args.without) - set(KEYWORDS)
        if unknown:
            p.error(f"not a registry keyword: {', '.join(sorted(unknown))}")
        kept = tuple(k.encode() for k in KEYWORDS if k not in args.without)
        impls = {"old": lambda buf, end: scan.candidate_spans(buf, end, kept), **impls}
        args.baseline = "without " + ", ".join(map(repr, args.without))
    else:
        try:
            impls = {"old": load_baseline(args.baseline), **impls}
        except (OSError, subprocess.CalledProcessError) as e:
            print(f"no baseline ({e}); measuring the current prefilter only")
    print(f"python {sys.version.split()[0]}, buffers of {args.block} bytes, {args.reps} reps, "
          f"medians; old = {args.baseline}" if "old" in impls else "")
    for name, data in line_sets(int(args.mb * MB)).items():
        bufs = blocks(data, args.block)
        lines = data.count(b"\n")
        spans = {impl: [fn(b, len(b)) for b in bufs] for impl, fn in impls.items()}
        same = len({repr(s) for s in spans.values()}) == 1
        hits = sum(map(len, spans["new"]))
        t = measure(bufs, impls, args.reps)
        row = "  ".join(f"{impl} {t[impl] / lines * 1e9:6.0f} ns/line "
                        f"{len(data) / MB / t[impl]:7.1f} MB/s" for impl in impls)
        ratio = f"  x{t['old'] / t['new']:.2f}" if "old" in impls else ""
        print(f"{name:11} {lines:7d} lines, {len(data) / lines:4.0f} B/line, {hits:5d} candidates: "
              f"{row}{ratio}{'' if same else '  OUTPUTS DIFFER'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

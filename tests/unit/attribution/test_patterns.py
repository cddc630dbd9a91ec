from __future__ import annotations

import re

import pytest

from resilience.attribution import Analyzer
from resilience.attribution.lines import _PREFIXES, parse_line
from resilience.attribution.markers import CHECKPOINT_RE, CYCLE_MARKER_RE
from resilience.attribution.patterns import PATTERNS
from resilience.attribution.progress import STEP_PATTERNS
from resilience.attribution.registry import (
    KEYWORDS,
    MAX_MATCH_CHARS,
    Role,
    conditional_free,
    match_content,
)


@pytest.mark.parametrize("pattern", PATTERNS, ids=lambda p: p.id)
def test_every_example_matches_its_pattern_and_passes_the_prefilter(pattern) -> None:  # type: ignore[no-untyped-def]
    content = parse_line(pattern.example).content
    assert pattern.compiled.search(conditional_free(content)), pattern.id
    assert any(k in pattern.example for k in KEYWORDS), f"{pattern.id}: no prefilter keyword"
    if pattern.role is not Role.NOISE:
        assert match_content(content) is pattern, f"{pattern.id} shadowed by another pattern"


def test_pattern_ids_unique() -> None:
    ids = [p.id for p in PATTERNS]
    assert len(ids) == len(set(ids))


_UNBOUNDED_GROUP = re.compile(r"\)(?:[*+]|\{\d+,\})")
_UNBOUNDED_DOT = re.compile(r"(?<!\\)\.[*+]")


@pytest.mark.parametrize("regex", [p.regex for p in PATTERNS]
                         + [rx.pattern for rx in _PREFIXES]
                         + [CHECKPOINT_RE.pattern, CYCLE_MARKER_RE.pattern]
                         + [rx.pattern.decode() for _, rx in STEP_PATTERNS])
def test_regexes_have_no_unbounded_group_repetition_or_dot_star(regex: str) -> None:
    # Linear-time by construction: no quantified groups (no nested repetition) and no
    # unbounded `.*`; single-class repeats like \s* cannot backtrack exponentially.
    assert not _UNBOUNDED_GROUP.search(regex), regex
    assert not _UNBOUNDED_DOT.search(regex), regex


@pytest.mark.parametrize(("line", "expected"), [
    ("ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient "
     "shared memory (shm).", "dataloader_bus"),
    ("RuntimeError: CUDA error: out of memory", "cuda_oom"),
    ("Out of memory: Killed process 51877 (python3)", "kernel_oom"),
    ("[E ProcessGroupNCCL.cpp:475] [Rank 3] Watchdog caught collective operation timeout",
     "nccl_timeout"),
    ("torch.distributed.elastic.rendezvous.api.RendezvousTimeoutError: ", "store_timeout"),
    ("NVRM: Xid (PCI:0000:48:00): 13, Graphics Exception", None),  # Xid 13 is not hardware
    ("NVRM: Xid (PCI:0000:48:00): 79, GPU has fallen off the bus.", "xid_fatal"),
    ("UserWarning: this error is deprecated", None),
    ("frame #5: c10::Error::Error() + 0x96", None),
    ("  exitcode  : 1 (pid: 1234)", None),
    ("Signal 6 (SIGABRT) received by PID 1234", None),
])
def test_specific_lines(line: str, expected: str | None) -> None:
    p = match_content(parse_line(line).content)
    assert (p.id if p else None) == expected


def test_conditional_clause_is_not_evidence() -> None:
    # "may be caused by ... out of memory" must not become a cuda_oom root
    line = "RuntimeError: NCCL error: this may be caused by CUDA out of memory on another rank"
    p = match_content(line)
    assert p is None or p.id != "cuda_oom"


def test_oversized_line_is_truncated_before_matching() -> None:
    # the keyword and the signature sit beyond MAX_MATCH_CHARS: the regexes never see them
    line = "x" * (MAX_MATCH_CHARS + 10) + " torch.OutOfMemoryError: CUDA out of memory"
    a = Analyzer()
    a.feed(line)
    d = a.digest()
    assert d.lines == 1 and d.candidates == ()
    short = Analyzer()
    short.feed("torch.OutOfMemoryError: CUDA out of memory")
    assert short.digest().candidates[0].pattern == "cuda_oom"

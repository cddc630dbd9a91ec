"""The prefilter finds exactly the lines holding a keyword, however it groups its searches;
the faster progress regexes agree with their plain formulations."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.attribution import scan
from resilience.attribution.markers import PROGRESS_RE
from resilience.attribution.registry import KEYWORDS, PROGRESS_KEYWORDS

from .conftest import CORPUS

ERRORS = [k.encode() for k in KEYWORDS]
PROGRESS = [k.encode() for k in PROGRESS_KEYWORDS]


def brute_force(buf: bytes, end: int) -> tuple[list[tuple[int, int]], dict[int, int]]:
    spans, errors, pos = [], {}, 0
    for line in buf[:end].split(b"\n")[:buf[:end].count(b"\n")]:
        if any(k in line for k in ERRORS + PROGRESS):
            spans.append((pos, pos + len(line)))
            if any(k in line for k in ERRORS):
                errors[pos] = pos + len(line)
        pos += len(line) + 1
    return spans, errors


# keyword pieces, their anchors, the rare bytes that share the sentinel, and near misses
PIECES = st.sampled_from([
    *ERRORS, *PROGRESS, b"\n", b" ", b"a", b"X", b"x", b"y", b"R", b"W", b"k", b"I", b"m", b"\x01",
    b"id", b"xid", b"Xception", b"memory", b"mentation", b"implementation", b"med out", b"kill",
    b"m-kill", b"kpoint", b"ter", b"y peer", b"cle", b"WARN", b"NCCL ", b"oot Cause", b"\xc3\xa9",
])
BUFFERS = st.lists(st.one_of(PIECES, st.binary(max_size=6)), max_size=80).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(BUFFERS, st.binary(max_size=8))
def test_candidate_lines_are_exactly_the_keyword_lines(buf: bytes, partial: bytes) -> None:
    end = buf.rfind(b"\n") + 1
    buf = buf[:end] + partial.replace(b"\n", b"")  # bytes past `end` are not looked at
    found = scan.candidate_lines(buf, end)
    assert (found.spans, found.errors) == brute_force(buf, end)
    assert scan.candidate_spans(buf, end) == found.spans


@pytest.mark.parametrize("path", sorted((CORPUS / "logs").iterdir()), ids=lambda p: p.name)
def test_candidate_lines_on_the_corpus(path: Path) -> None:
    buf = path.read_bytes()
    end = buf.rfind(b"\n") + 1
    found = scan.candidate_lines(buf, end)
    assert (found.spans, found.errors) == brute_force(buf, end)


def test_candidate_spans_with_other_keywords() -> None:
    buf = b"a Xid b\nnothing\nfoo memory\nxid\n"
    assert scan.candidate_spans(buf, len(buf), [b"Xid", b"memory"]) == [(0, 7), (16, 26)]
    assert scan.candidate_spans(buf, len(buf), [b"nothing"]) == [(8, 15)]


# The formulation PROGRESS_RE replaced (a leading look-behind, slower, same matches).
_PLAIN_PROGRESS = re.compile(
    r"(?<![\w.(/-])(?:global_step|[Ss]tep|STEP|[Ii]teration|ITERATION|[Ii]ter|ITER)"
    r"\s{0,3}[:=#]?\s{0,12}\[?\s{0,3}(\d{1,12})\b")
WORDS = st.sampled_from(["step", "Step", "STEP", "global_step", "global", "_", "iter", "Iter",
                         "ITER", "iteration", "Iteration", "ITERATION", "ter", "TER", "g", "S",
                         "s", "I", "i", " ", ":", "=", "#", "[", "5", "12", "x", ".", "(", "/",
                         "-", "é", "٣", "\t", "checkpoint", "saved", "Checkpoint"])
LINES = st.lists(st.one_of(WORDS, st.text(max_size=3)), max_size=16).map("".join)


@settings(max_examples=500, deadline=None)
@given(LINES)
def test_progress_regex_matches_like_its_plain_form(text: str) -> None:
    a, b = _PLAIN_PROGRESS.search(text), PROGRESS_RE.search(text)
    assert (a and (a.span(), a.group(1))) == (b and (b.span(), b.group(1)))


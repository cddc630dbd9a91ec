"""The prefilter finds exactly the lines holding an error keyword, however it groups its
searches; the bulk progress scan agrees with a plain line-by-line reading."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from resilience.attribution import scan
from resilience.attribution.progress import line_steps, saved_checkpoint, scan_progress
from resilience.attribution.registry import KEYWORDS

from .conftest import CORPUS

ERRORS = [k.encode() for k in KEYWORDS]


def brute_force(buf: bytes, end: int, keywords: list[bytes] = ERRORS) -> list[tuple[int, int]]:
    spans, pos = [], 0
    for line in buf[:end].split(b"\n")[:buf[:end].count(b"\n")]:
        if any(k in line for k in keywords):
            spans.append((pos, pos + len(line)))
        pos += len(line) + 1
    return spans


# keyword pieces, their anchors, the rare bytes that share the sentinel, and near misses
PIECES = st.sampled_from([
    *ERRORS, b"\n", b" ", b"a", b"X", b"x", b"y", b"R", b"W", b"k", b"I", b"m", b"\x01",
    b"id", b"xid", b"Xception", b"memory", b"mentation", b"implementation", b"med out", b"kill",
    b"m-kill", b"kpoint", b"ter", b"y peer", b"cle", b"WARN", b"NCCL ", b"oot Cause", b"\xc3\xa9",
    # the `o` group's branches and their look-behinds, the other groups and literals
    b"o", b"or", b"on", b"of", b"ff", b"tion", b"loss", b"oss i", b"oom", b"ut", b"dog", b"N",
    b"Na", b"CCL", b"`", b" f", b"ailed", b"ror", b"rro", b"r",
])
BUFFERS = st.lists(st.one_of(PIECES, st.binary(max_size=6)), max_size=80).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(BUFFERS, st.binary(max_size=8))
def test_candidate_lines_are_exactly_the_keyword_lines(buf: bytes, partial: bytes) -> None:
    end = buf.rfind(b"\n") + 1
    buf = buf[:end] + partial.replace(b"\n", b"")  # bytes past `end` are not looked at
    assert scan.candidate_lines(buf, end) == brute_force(buf, end)
    # every byte of every keyword past `end`: no keyword is dropped by the gates
    assert scan.candidate_lines(buf + b"".join(ERRORS), end) == brute_force(buf, end)


@pytest.mark.parametrize("path", sorted((CORPUS / "logs").iterdir()), ids=lambda p: p.name)
def test_candidate_lines_on_the_corpus(path: Path) -> None:
    buf = path.read_bytes()
    end = buf.rfind(b"\n") + 1
    assert scan.candidate_lines(buf, end) == brute_force(buf, end)


# Any keyword set: shared bytes (groups, repeated anchors), a keyword inside another, empty
# keywords, newlines, bytes outside the frequency table.
KEYWORD = st.lists(st.sampled_from(b"abo e\n\xc3"), max_size=5).map(bytes)
TEXT = st.lists(st.sampled_from([b"a", b"b", b"o", b"e", b" ", b"\n", b"\xc3", b"ab", b"bo",
                                 b"oa", b"boa", b"oo"]), max_size=60).map(b"".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(KEYWORD, max_size=6), TEXT, st.booleans())
def test_candidate_spans_are_exactly_the_lines_with_any_keywords(
    keywords: list[bytes], buf: bytes, pass_the_gates: bool
) -> None:
    end = buf.rfind(b"\n") + 1
    tail = b"".join(keywords).replace(b"\n", b"") if pass_the_gates else b""
    assert scan.candidate_spans(buf + tail, end, keywords) == brute_force(buf, end, keywords)


def test_gates_drop_only_keywords_with_an_absent_byte() -> None:
    steps = b"".join(b"step %d loss 2.345 lr 3e-4 tokens/s 123456\n" % i for i in range(500))
    for line in (b"OSError: [Errno 28] No space left", b"tensor([NaN])", b"Xid 79 (bus)",
                 b"NCCL WARN NET/IB : Got completion with error", b"` failed."):
        buf = steps + line + b"\n" + steps
        assert scan.candidate_lines(buf, len(buf)) == [(len(steps), len(steps) + len(line))]


def test_candidate_spans_with_other_keywords() -> None:
    buf = b"a Xid b\nnothing\nfoo memory\nxid\n"
    assert scan.candidate_spans(buf, len(buf), [b"Xid", b"memory"]) == [(0, 7), (16, 26)]
    assert scan.candidate_spans(buf, len(buf), [b"nothing"]) == [(8, 15)]


# ---- progress -----------------------------------------------------------------------------
# The plain formulation of a step mention (a leading look-behind: slow, obviously right).
_PLAIN_STEP = re.compile(
    rb"(?:(?<![\w.(/-])(?:global_step|[Ss]tep|STEP|[Ii]teration|ITERATION|[Ii]ter|ITER)"
    rb"|\[batch=)"
    rb"[ \t\r\x0b\x0c]{0,3}[:=#]?[ \t\r\x0b\x0c]{0,12}\[?[ \t\r\x0b\x0c]{0,3}(\d{1,12})\b")
WORDS = st.sampled_from(["step", "Step", "STEP", "global_step", "global", "_", "iter", "Iter",
                         "ITER", "iteration", "Iteration", "ITERATION", "ter", "TER", "g", "S",
                         "s", "I", "i", " ", ":", "=", "#", "[", "5", "12", "x", ".", "(", "/",
                         "-", "é", "٣", "\t", "checkpoint", "saved", "Checkpoint", "\n",
                         "Saved checkpoint to /ckpt", "timestep", "\r", "[batch=", "batch=",
                         "Uploading checkpoint to s3://b/ep0-ba5000-rank0.pt", "Error ",
                         "failed "])
TEXTS = st.lists(st.one_of(WORDS, st.text(max_size=3)), max_size=40).map("".join)


def plain_lines(buf: bytes) -> list[tuple[int, list[int], bool]]:
    """(line start, step numbers, checkpoint saved) per line, one line at a time."""
    out, pos = [], 0
    for line in buf.split(b"\n"):
        steps = [int(m.group(1)) for m in [_PLAIN_STEP.search(line)] if m]  # the first only
        text = line[:4096].decode("utf-8", "replace")
        out.append((pos, steps, "heckpoint" in text and saved_checkpoint(text)))
        pos += len(line) + 1
    return out


@settings(max_examples=500, deadline=None)
@given(TEXTS, st.one_of(st.none(), st.integers(0, 20)))
def test_scan_progress_equals_a_line_by_line_reading(text: str, highest: int | None) -> None:
    buf = text.encode()
    lines = plain_lines(buf)
    assert [line_steps(buf[p:p + len(buf)].split(b"\n")[0]) for p, _, _ in lines] == [
        s for _, s, _ in lines]
    rises, top, top_line, best = 0, None, -1, highest
    for i, (_, steps, _) in enumerate(lines):
        for v in steps:
            if best is None or v > best:
                best, top, top_line, rises = v, v, i, rises + 1
    saves = [i for i, (_, _, saved) in enumerate(lines) if saved]
    got = scan_progress(buf, 0, len(buf), highest)
    if not rises and not saves:
        assert got is None
        return
    assert got is not None
    assert (got.rises, got.top, got.saves) == (rises, top, len(saves))
    line_of = [p for p, _, _ in lines]
    if top is not None:
        assert buf.count(b"\n", 0, got.top_at) == top_line
    if saves:
        assert got.save_at == line_of[saves[-1]]


def test_progress_keywords_glued_to_a_word_do_not_count() -> None:
    assert line_steps(b"timestep 873 train_step 4 x.step 5 (step 6 iterations 7") == []
    assert line_steps(b"step 5 | Iteration: [12 | global_step=9 | ITER 3 | STEP#4") == [5]
    assert line_steps(b"ITER 3 | step 5") == [3]
    # composer's `[batch=4200/48000]:`; a batch size is no step
    assert line_steps(b"[batch=4200/48000]:") == [4200]
    assert line_steps(b"micro_batch=4 global batch=512") == []
    # a save that failed is none
    assert saved_checkpoint("Uploading checkpoint to s3://b/ep0-ba6000-rank0.pt")
    assert not saved_checkpoint("Error uploading checkpoint to s3://b/ep0-ba6000-rank0.pt")
    assert not saved_checkpoint("Saving checkpoint failed: [Errno 28] No space left on device")
    # one line with two numbers is one advance, not two: the error before it stays live
    buf = b"step 10\nepoch 3 iter 11 global_step 3011\n"
    got = scan_progress(buf, 0, len(buf), None)
    assert got is not None and (got.rises, got.top) == (2, 11)

"""Finding candidate lines in a big byte buffer without a Python loop over every line.

A line is a candidate iff it contains one of `registry.KEYWORDS` (an *error* line) or of
`registry.PROGRESS_KEYWORDS` (a *progress* line); the set is exactly that, however the search
below is organised. Only candidate lines come back to Python. This is the prefilter the
streaming and the file paths share.

Cost model (CPython 3.11, measured): a `re` search for a literal of two or more bytes runs at
~2.3 GB/s (it loops on the first byte, then compares the rest); a pattern starting with one
literal byte and an alternation pays ~40 ns at every occurrence of that byte; a pattern
starting with a character class runs at ~130 MB/s. So one search per keyword costs ~0.43 ns
per byte each, and 19 keywords ~8 ns/B. Instead:

* every keyword holding a byte that is rare in training logs (`RARE_BYTES`) is anchored at that
  byte (`of memory` -> `memory`); the rare bytes are all translated to one sentinel
  (`bytes.translate`, ~0.7 ns/B, offsets unchanged) and one search ``\\x01(?:id|ception|...)``
  finds them all; each hit is verified against the whole keyword in the original bytes (rare
  bytes share the sentinel, and `implementation` holds the anchor `mentation`, not
  `egmentation`);
* the other keywords (`rror`, `tep`, ...) are literal searches `keyword[^\\n]*`: the match runs
  to the line end, so the engine, not Python, skips the rest of a matching line.

About 5.5 ns/byte on a training log (docs/design/attribution.md has the numbers).
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from .registry import KEYWORDS, PROGRESS_KEYWORDS

__all__ = ["ALL_KEYWORDS", "RARE_BYTES", "Candidates", "candidate_lines", "candidate_spans"]

ALL_KEYWORDS: tuple[bytes, ...] = tuple(k.encode() for k in (*KEYWORDS, *PROGRESS_KEYWORDS))
# Bytes seldom seen in training logs (< ~1.5 % each on NCCL/Megatron-style logs, Python source
# and the labelled corpus); keywords are anchored at the first of them they contain.
RARE_BYTES = b"XxyRWkIm"
_SENTINEL = 1


class _Plan:
    """The searches for one keyword set: {keyword: is_error}."""

    def __init__(self, keywords: dict[bytes, bool]) -> None:
        table = bytearray(range(256))
        for b in RARE_BYTES:
            table[b] = _SENTINEL
        self.table = bytes(table)
        self.literal_errors: list[re.Pattern[bytes]] = []
        self.literal_progress: list[re.Pattern[bytes]] = []
        # first two translated bytes of an anchor -> [(keyword, offset of the anchor, is_error)]
        self.anchors: dict[bytes, list[tuple[bytes, int, bool]]] = {}
        alts: list[bytes] = []
        for kw, is_error in keywords.items():
            i = next((i for i, b in enumerate(kw) if b in RARE_BYTES and len(kw) - i >= 2), -1)
            if i < 0:
                target = self.literal_errors if is_error else self.literal_progress
                target.append(re.compile(re.escape(kw) + b"[^\n]*"))
                continue
            anchor = kw[i:].translate(self.table)
            self.anchors.setdefault(anchor[:2], []).append((kw, i, is_error))
            alts.append(anchor[1:])
        self.sentinel: re.Pattern[bytes] | None = re.compile(
            re.escape(bytes([_SENTINEL])) + b"(?:" + _trie(alts) + b")") if alts else None

    def kind(self, buf: bytes, pos: int, head: bytes) -> bool | None:
        """Whether the sentinel hit at `pos` (translated bytes `head` there) starts an error
        (True) or progress (False) keyword; None if the original bytes hold no whole keyword."""
        for kw, offset, is_error in self.anchors.get(head, ()):
            if pos >= offset and buf.startswith(kw, pos - offset):
                return is_error
        return None


def _trie(words: list[bytes]) -> bytes:
    """A regex alternation of `words` factored by common prefixes (`e(?:d out|ntation)`): the
    engine then tests each distinct next byte once instead of every word."""
    groups: dict[bytes, list[bytes]] = {}
    for w in sorted(set(words), key=len, reverse=True):
        groups.setdefault(w[:1], []).append(w[1:])
    alts = []
    for head, rests in groups.items():
        if head == b"":
            continue
        tail = _trie(rests) if len(rests) > 1 else re.escape(rests[0])
        alts.append(re.escape(head) + (b"(?:" + tail + b")" if len(rests) > 1 else tail))
    body = b"|".join(alts)
    return (b"(?:" + body + b")?" if body else b"") if b"" in groups else body


_PLAN = _Plan({**{k.encode(): False for k in PROGRESS_KEYWORDS},
               **{k.encode(): True for k in KEYWORDS}})


def _literal(buf: bytes, end: int, searches: list[re.Pattern[bytes]],
             out: dict[int, int]) -> None:
    rfind = buf.rfind
    for rx in searches:  # `keyword[^\n]*`: the match ends at the line end, so the rest of the
        for m in rx.finditer(buf, 0, end):  # line is skipped by the engine, not by Python
            pos, stop = m.span()
            out[rfind(b"\n", 0, pos) + 1] = stop


def _sentinel(plan: _Plan, buf: bytes, end: int, errors: dict[int, int],
              progress: dict[int, int]) -> None:
    if plan.sentinel is None:
        return
    search, kind = plan.sentinel.search, plan.kind
    find, rfind = buf.find, buf.rfind
    translated = buf.translate(plan.table)  # same offsets as `buf`
    m = search(translated, 0, end)
    while m is not None:
        pos = m.start()
        is_error = kind(buf, pos, translated[pos:pos + 2])
        if is_error is None:
            m = search(translated, pos + 1, end)
            continue
        start = rfind(b"\n", 0, pos) + 1
        stop = find(b"\n", pos, end)
        if stop == -1:
            stop = end
        if is_error:
            errors[start] = stop
            m = search(translated, stop, end)  # the line is classified: skip its rest
        else:
            progress[start] = stop
            m = search(translated, pos + 1, end)  # an error keyword may follow on this line


class Candidates:
    """Candidate lines of a buffer: `spans`, sorted (start, stop) with the newline excluded,
    and `errors`, {start: stop} of those holding an error keyword (the rest: progress only)."""

    __slots__ = ("errors", "spans")

    def __init__(self, spans: list[tuple[int, int]], errors: dict[int, int]) -> None:
        self.spans = spans
        self.errors = errors


def candidate_lines(buf: bytes, end: int) -> Candidates:
    """The candidate lines of `buf[:end]`; `end` is just past the last complete line."""
    errors: dict[int, int] = {}
    progress: dict[int, int] = {}
    _sentinel(_PLAN, buf, end, errors, progress)
    _literal(buf, end, _PLAN.literal_errors, errors)
    _literal(buf, end, _PLAN.literal_progress, progress)
    progress.update(errors)
    return Candidates(sorted(progress.items()), errors)


def candidate_spans(
    buf: bytes, end: int, keywords: Iterable[bytes] = ALL_KEYWORDS
) -> list[tuple[int, int]]:
    """Sorted (start, end) of the lines in `buf[:end]` that contain any keyword.

    `end` is the offset just past the last complete line; the line end excludes its newline.
    """
    if keywords is ALL_KEYWORDS:
        return candidate_lines(buf, end).spans
    plan = _Plan(dict.fromkeys(keywords, True))
    spans: dict[int, int] = {}
    _sentinel(plan, buf, end, spans, spans)
    _literal(buf, end, plan.literal_errors, spans)
    return sorted(spans.items())

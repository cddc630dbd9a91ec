"""Finding candidate lines in a big byte buffer without a Python loop over every line.

A line is a candidate iff it contains one of `registry.KEYWORDS` (an *error* line); the set
is exactly that, however the search below is organised. Only candidate lines come back to
Python. This is the prefilter the streaming and the file paths share; progress lines are
found in bulk by `progress.scan_progress` on the stretches between candidates.

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

from .registry import KEYWORDS

__all__ = ["ERROR_KEYWORDS", "RARE_BYTES", "candidate_lines", "candidate_spans"]

ERROR_KEYWORDS: tuple[bytes, ...] = tuple(k.encode() for k in KEYWORDS)
# Bytes seldom seen in training logs (< ~1.5 % each on NCCL/Megatron-style logs, Python source
# and the labelled corpus; the backtick far less); keywords are anchored at the first of them
# they contain.
RARE_BYTES = b"XxyRWkIm`"
_SENTINEL = 1


class _Plan:
    """The searches for one keyword set."""

    def __init__(self, keywords: Iterable[bytes]) -> None:
        table = bytearray(range(256))
        for b in RARE_BYTES:
            table[b] = _SENTINEL
        self.table = bytes(table)
        self.literals: list[re.Pattern[bytes]] = []
        # first two translated bytes of an anchor -> [(keyword, offset of the anchor)]
        self.anchors: dict[bytes, list[tuple[bytes, int]]] = {}
        alts: list[bytes] = []
        for kw in dict.fromkeys(keywords):
            i = next((i for i, b in enumerate(kw) if b in RARE_BYTES and len(kw) - i >= 2), -1)
            if i < 0:
                self.literals.append(re.compile(re.escape(kw) + b"[^\n]*"))
                continue
            anchor = kw[i:].translate(self.table)
            self.anchors.setdefault(anchor[:2], []).append((kw, i))
            alts.append(anchor[1:])
        self.sentinel: re.Pattern[bytes] | None = re.compile(
            re.escape(bytes([_SENTINEL])) + b"(?:" + _trie(alts) + b")") if alts else None

    def whole(self, buf: bytes, pos: int, head: bytes) -> bool:
        """Whether the sentinel hit at `pos` (translated bytes `head` there) is a whole
        keyword in the original bytes."""
        return any(pos >= offset and buf.startswith(kw, pos - offset)
                   for kw, offset in self.anchors.get(head, ()))


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


_PLAN = _Plan(ERROR_KEYWORDS)


def _literal(plan: _Plan, buf: bytes, end: int, out: dict[int, int]) -> None:
    rfind = buf.rfind
    for rx in plan.literals:  # `keyword[^\n]*`: the match ends at the line end, so the rest of
        for m in rx.finditer(buf, 0, end):  # the line is skipped by the engine, not by Python
            pos, stop = m.span()
            out[rfind(b"\n", 0, pos) + 1] = stop


def _sentinel(plan: _Plan, buf: bytes, end: int, out: dict[int, int]) -> None:
    if plan.sentinel is None:
        return
    search, whole = plan.sentinel.search, plan.whole
    find, rfind = buf.find, buf.rfind
    translated = buf.translate(plan.table)  # same offsets as `buf`
    m = search(translated, 0, end)
    while m is not None:
        pos = m.start()
        if not whole(buf, pos, translated[pos:pos + 2]):
            m = search(translated, pos + 1, end)
            continue
        start = rfind(b"\n", 0, pos) + 1
        stop = find(b"\n", pos, end)
        if stop == -1:
            stop = end
        out[start] = stop
        m = search(translated, stop, end)  # the line is a candidate: skip its rest


def candidate_lines(buf: bytes, end: int) -> list[tuple[int, int]]:
    """Sorted (start, stop) of the lines of `buf[:end]` holding an error keyword; `end` is just
    past the last complete line, `stop` excludes the newline."""
    return candidate_spans(buf, end)


def candidate_spans(
    buf: bytes, end: int, keywords: Iterable[bytes] = ERROR_KEYWORDS
) -> list[tuple[int, int]]:
    """Sorted (start, stop) of the lines in `buf[:end]` that contain any of `keywords`."""
    plan = _PLAN if keywords is ERROR_KEYWORDS else _Plan(keywords)
    spans: dict[int, int] = {}
    _sentinel(plan, buf, end, spans)
    _literal(plan, buf, end, spans)
    return sorted(spans.items())

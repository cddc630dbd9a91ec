"""Finding candidate lines in a big byte buffer without a Python loop over every line.

A line is a candidate iff it contains one of `registry.KEYWORDS` (an *error* line); the set
is exactly that, however the search below is organised. Only candidate lines come back to
Python. This is the prefilter the streaming and the file paths share; progress lines are
found in bulk by `progress.scan_progress` on the stretches between candidates.

Cost model (CPython 3.11, measured): a `re` search that starts with a literal costs ~1 cycle
per byte (~0.35-0.5 ns/B a pass) plus what it does where the literal occurs: a multi-byte
literal prefix is compared inline (a few ns), a pattern `o(?:...)` enters the matcher at every
`o` (~7 ns, plus ~3.5 ns for each alternative tried there); `byte in buf` is `memchr`
(~0.01-0.03 ns/B). `bytes.translate` costs as much as two passes. So, per buffer:

* **gates**: a keyword can only be in the buffer if each of its bytes is. The bytes of the
  keywords are looked for, rarest first (`_BY_FREQUENCY`, from the corpus), and a keyword
  missing one is dropped for this buffer. Healthy training output lacks most rare bytes (`X`,
  `W`, `y`, `N`, `h`, `i`, ...): Megatron iteration lines leave 6 of the 16 error keywords,
  step lines 1.
* **passes** for the keywords left, grouped by a byte they share (`o` is in 10 of the 16): one
  search per group, ``o(?:r(?<=rror)|ss is|ff(?<=fallen off)|...)[^\\n]*``, a trie of what
  follows the byte in each keyword, each branch closed by a look-behind for the whole keyword
  (after the literal, so the search keeps its fast literal start), so a match is exact and
  Python verifies nothing; `[^\\n]*` runs to the line end, so the engine, not Python, skips
  the rest of a matching line. Groups are chosen greedily by what they save over one search
  per keyword under the cost model above (`_saving`: common anchors such as ` ` or `e` do not
  pay); the anchor is never a keyword's last byte (a branch must start with a literal to be
  rejected cheaply). A keyword left alone is a literal search from its rarest byte. The
  searches are compiled once per set of keywords that passed the gates.

On the box of docs/design/attribution.md: ~2.7-3x faster than the translate + sentinel design
it replaced on Megatron iteration lines, ~2.2x on a mixed log, 5-8x on step lines;
bench/prefilter_micro.py measures it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from functools import lru_cache

from .registry import KEYWORDS

__all__ = ["ERROR_KEYWORDS", "candidate_lines", "candidate_spans"]

ERROR_KEYWORDS: tuple[bytes, ...] = tuple(k.encode() for k in KEYWORDS)
# Printable ASCII from the rarest to the most common byte of the labelled corpus (logs of
# failing training jobs); other bytes count as rarer than all of them.
_BY_FREQUENCY = (b"Z~Q@$\\!?&JXY{}K;%VH#`j+q<>zM'WBUDSAG|PROF^T\"xIv9wEL)76(8*yN5C[]fb43,=k_hg2"
                 b"-.mu/dp:1cl0sniaorte ")
_RANK = {b: i for i, b in enumerate(_BY_FREQUENCY)}
# Percent of the corpus bytes for its 20 most common bytes; the others are below 1.6 %.
_PERCENT = dict(zip(b".mu/dp:1cl0sniaorte ",
                    (1.6, 1.7, 1.9, 1.9, 2.1, 2.2, 2.3, 2.4, 2.7, 2.9,
                     3.1, 3.3, 4.1, 4.1, 4.1, 4.1, 4.3, 4.4, 5.8, 11.3), strict=True))
# The cost model of a search (ns): a pass per byte; at each anchor byte of a group, entering
# the matcher and each alternative tried there.
_PASS, _ENTRY, _ALT = 0.5, 7.0, 3.5
_ALL_LINES = rb"(?m)^[^\n]*(?=\n)"  # the empty keyword


def _rank(b: int) -> int:
    return _RANK.get(b, -1)


def _trie(branches: list[tuple[bytes, bytes]]) -> bytes:
    """A regex for (literal, tail) branches factored by common prefixes: the engine tests each
    distinct next byte once instead of every branch. A tail is empty or a look-behind."""
    groups: dict[bytes, list[tuple[bytes, bytes]]] = {}
    tails: list[bytes] = []
    for literal, tail in branches:
        if literal:
            groups.setdefault(literal[:1], []).append((literal[1:], tail))
        else:
            tails.append(tail)
    if b"" in tails:  # a whole keyword has matched
        return b""
    alts = [re.escape(head) + _trie(rest) for head, rest in groups.items()] + sorted(set(tails))
    return alts[0] if len(alts) == 1 else b"(?:" + b"|".join(alts) + b")"


def _group(anchor: int, keywords: list[bytes]) -> bytes:
    """One search for `keywords`, which all hold `anchor` before their last byte."""
    branches: list[tuple[bytes, bytes]] = []
    nexts: set[int] = set()
    for kw in keywords:  # anchor where the next byte is shared, else where it is rarest
        i = min((i for i in range(len(kw) - 1) if kw[i] == anchor),
                key=lambda i: (kw[i + 1] not in nexts, _rank(kw[i + 1])))
        nexts.add(kw[i + 1])
        branches.append((kw[i + 1:], b"(?<=" + re.escape(kw) + b")" if i else b""))
    return re.escape(bytes([anchor])) + _trie(branches) + b"[^\n]*"


def _literal(kw: bytes) -> bytes:
    """One search for `kw`, from its rarest byte that leaves a literal of 3 bytes or more."""
    i = min(range(max(1, len(kw) - 2)), key=lambda i: (_rank(kw[i]), i))
    return re.escape(kw[i:]) + (b"(?<=" + re.escape(kw) + b")" if i else b"") + b"[^\n]*"


def _saving(anchor: int, group: list[bytes]) -> float:
    """ns per byte one search for `group` saves over one literal search per keyword."""
    percent = _PERCENT.get(anchor, 1.6)
    return (len(group) - 1) * _PASS - percent / 100 * (_ENTRY + _ALT * len(group))


def _searches(keywords: list[bytes]) -> list[re.Pattern[bytes]]:
    """Greedily the group that saves the most, until none saves anything; then literals."""
    if b"" in keywords:
        return [re.compile(_ALL_LINES)]
    out: list[bytes] = []
    left = sorted(keywords)
    while True:
        shared: dict[int, list[bytes]] = {}
        for kw in left:
            for b in set(kw[:-1]):
                shared.setdefault(b, []).append(kw)
        best = max(shared.items(), key=lambda bg: (_saving(*bg), bg[0]), default=None)
        if best is None or _saving(*best) <= 0:
            break
        out.append(_group(*best))
        left = [kw for kw in left if kw not in best[1]]
    return [re.compile(p) for p in out + [_literal(kw) for kw in left]]


class _Plan:
    """The gates and the (cached) searches for one keyword set."""

    def __init__(self, keywords: Iterable[bytes]) -> None:
        kws = {k for k in keywords if b"\n" not in k}  # no line holds a newline
        # a keyword that holds another one adds no line
        self.keywords = sorted(k for k in kws if not any(o != k and o in k for o in kws))
        need: dict[int, int] = {}  # byte -> bit mask of the keywords holding it
        for i, kw in enumerate(self.keywords):
            for b in kw:
                need[b] = need.get(b, 0) | 1 << i
        self.gates = sorted(need.items(), key=lambda bm: _rank(bm[0]))  # rarest first
        self.all = (1 << len(self.keywords)) - 1
        self._searches: dict[int, list[re.Pattern[bytes]]] = {}

    def searches(self, present: int) -> list[re.Pattern[bytes]]:
        """The searches for the keywords whose bits are set in `present`."""
        found = self._searches.get(present)
        if found is None:
            if len(self._searches) >= 256:
                self._searches.clear()
            found = self._searches[present] = _searches(
                [kw for i, kw in enumerate(self.keywords) if present >> i & 1])
        return found


_ERRORS = _Plan(ERROR_KEYWORDS)


@lru_cache(maxsize=16)
def _plan(keywords: tuple[bytes, ...]) -> _Plan:
    return _Plan(keywords)


def candidate_lines(buf: bytes, end: int) -> list[tuple[int, int]]:
    """Sorted (start, stop) of the lines of `buf[:end]` holding an error keyword; `end` is just
    past the last complete line, `stop` excludes the newline."""
    return candidate_spans(buf, end)


def candidate_spans(
    buf: bytes, end: int, keywords: Iterable[bytes] = ERROR_KEYWORDS
) -> list[tuple[int, int]]:
    """Sorted (start, stop) of the lines in `buf[:end]` that contain any of `keywords`."""
    plan = _ERRORS if keywords is ERROR_KEYWORDS else _plan(tuple(keywords))
    present = plan.all
    for byte, need in plan.gates:  # `int in bytes` is memchr; bytes past `end` at worst keep
        if present & need and byte not in buf:  # a keyword that could have been dropped
            present &= ~need
    spans: dict[int, int] = {}
    rfind = buf.rfind
    for rx in plan.searches(present):
        for m in rx.finditer(buf, 0, end):
            pos, stop = m.span()
            spans[rfind(b"\n", 0, pos) + 1] = stop
    return sorted(spans.items())

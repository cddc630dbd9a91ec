"""Finding candidate lines in a big byte buffer without a Python loop over every line.

One `bytes.find` pass per keyword (memchr-speed in C); only lines that contain a keyword come
back to Python. This is the prefilter the streaming and the file paths share.
"""

from __future__ import annotations

from collections.abc import Iterable

from .registry import KEYWORDS, PROGRESS_KEYWORDS

__all__ = ["ALL_KEYWORDS", "candidate_spans"]

ALL_KEYWORDS: tuple[bytes, ...] = tuple(k.encode() for k in (*KEYWORDS, *PROGRESS_KEYWORDS))


def candidate_spans(
    buf: bytes, end: int, keywords: Iterable[bytes] = ALL_KEYWORDS
) -> list[tuple[int, int]]:
    """Sorted (start, end) of the lines in `buf[:end]` that contain any keyword.

    `end` is the offset just past the last complete line; the line end excludes its newline.
    """
    spans: dict[int, int] = {}
    find, rfind = buf.find, buf.rfind
    for kw in keywords:
        pos = find(kw, 0, end)
        while pos != -1:
            start = rfind(b"\n", 0, pos) + 1
            stop = find(b"\n", pos, end)
            if stop == -1:
                stop = end
            spans[start] = stop
            pos = find(kw, stop, end)
    return sorted(spans.items())

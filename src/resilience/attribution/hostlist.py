"""SLURM's compressed host lists (`gn-a100-[21-24]`, `nid[002314-002315,002317]`,
`gpu-a07,gpu-b[01-03]`) as `sacct`, `squeue`, `scontrol` and a paste's prose print a job's
nodes, expanded in SLURM's order: a node's `SLURM_NODEID` is its index in that list.
"""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["FIRST_RANGE", "expand", "host_lists"]

# a list's first bracketed range (`gn-[21-`, `gn-[21,`): a cheap test before the full search
FIRST_RANGE = r"\[(?<=[\w-]\[)\d{1,8}[-,]\d"
_FIRST_RANGE = re.compile(FIRST_RANGE)
_MAX_HOSTS = 1024
_MAX_SEEN = 8  # lists as printed, remembered so that each is expanded once
# one host or bracketed name (`gn-a100-[21-24]`, `nid00[412-415]`, `gpu-r3n[07,09].x`)
_RANGES = r"\[\d{1,8}(?:-\d{1,8})?(?:,\d{1,8}(?:-\d{1,8})?){0,63}\]"
_ITEM = r"[A-Za-z][\w.-]{0,60}?(?:" + _RANGES + r"[\w.-]{0,60})?"
# a comma-separated list of them with a bracket in it; not inside a word, a path or brackets
_LIST = re.compile(r"(?<![\w.\[/-])" + _ITEM + r"(?:," + _ITEM + r"){0,63}(?![\w\[-]|\.\w)")
_PART = re.compile(r"([A-Za-z][\w.-]{0,60}?)(?:\[([\d,-]{1,600})\]([\w.-]{0,60}))?")


def expand(text: str) -> list[str] | None:
    """The hosts of one host list in order (`gn-[044-045]` -> `gn-044`, `gn-045`), each
    number as wide as its range's first one; None for a list with no bracketed range (or two
    numbers), a range that runs backwards, or more than 1024 hosts."""
    hosts: list[str] = []
    ranged = False
    for item in _items(text):
        m = _PART.fullmatch(item)
        if m is None:
            return None
        if m.group(2) is None:
            hosts.append(item)
            continue
        ranged |= "-" in m.group(2) or "," in m.group(2)
        prefix, suffix = m.group(1), m.group(3)
        for part in m.group(2).split(","):
            lo, _, hi = part.partition("-")
            first, last, width = int(lo), int(hi or lo), len(lo)
            if last < first or len(hosts) + last - first >= _MAX_HOSTS:
                return None
            hosts += [f"{prefix}{n:0{width}d}{suffix}" for n in range(first, last + 1)]
    return hosts if ranged else None


def _items(text: str) -> Iterator[str]:
    """The comma-separated items of a list, commas inside brackets kept."""
    depth, start = 0, 0
    for i, ch in enumerate(text):
        depth += (ch == "[") - (ch == "]")
        if ch == "," and depth == 0:
            yield text[start:i]
            start = i + 1
    yield text[start:]


def host_lists(text: str, seen: set[str] | None = None) -> list[tuple[str, ...]]:
    """Every host list on a line, expanded (see `expand`); one already in `seen` (as printed)
    is skipped, and a new one is added to it (up to 8)."""
    if "[" not in text or not _FIRST_RANGE.search(text):
        return []
    found = []
    for m in _LIST.finditer(text):
        printed = m.group(0).rstrip(".")  # (a sentence's full stop)
        if "[" not in printed or (seen is not None and printed in seen):
            continue
        if seen is not None and len(seen) < _MAX_SEEN:
            seen.add(printed)
        if (hosts := expand(printed)) is not None:
            found.append(tuple(hosts))
    return found

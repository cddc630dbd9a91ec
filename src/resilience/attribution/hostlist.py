"""SLURM's compressed host lists (`gn-a100-[21-24]`, `nid[002314-002315,002317]`,
`gpu-a[01-02],gpu-b07`) as `sacct`, `squeue`, `scontrol` and a paste's prose print a job's
nodes, expanded in SLURM's order: a node's `SLURM_NODEID` is its index in that list.
"""

from __future__ import annotations

import re

__all__ = ["expand", "host_lists"]

_MAX_HOSTS = 1024
# one bracketed name (`gn-a100-[21-24]`, `nid00[412-415]`, `gpu-r3n[07,09]`) with at least a
# range or two numbers in its brackets; the name begins with a letter
_BRACKETED = re.compile(r"(?<![\w.\[/-])([A-Za-z][\w.-]{0,60}?)\[(\d{1,8}(?:-\d{1,8})?"
                        r"(?:,\d{1,8}(?:-\d{1,8})?){0,63})\]([\w.-]{0,60})(?![\w\[])")


def expand(text: str) -> list[str] | None:
    """The hosts of one bracketed host list in order (`gn-[044-045]` -> `gn-044`, `gn-045`),
    each number as wide as the range's first one; None for a range that runs backwards or
    more than 1024 hosts."""
    m = _BRACKETED.fullmatch(text)
    if m is None or ("-" not in m.group(2) and "," not in m.group(2)):
        return None
    hosts: list[str] = []
    for part in m.group(2).split(","):
        lo, _, hi = part.partition("-")
        first, last = int(lo), int(hi or lo)
        if last < first or len(hosts) + last - first >= _MAX_HOSTS:
            return None
        hosts += [f"{m.group(1)}{n:0{len(lo)}d}{m.group(3)}" for n in range(first, last + 1)]
    return hosts


def host_lists(text: str) -> list[list[str]]:
    """Every bracketed host list on a line, expanded (see `expand`)."""
    if "[" not in text:
        return []
    return [hosts for m in _BRACKETED.finditer(text) if (hosts := expand(m.group(0)))]

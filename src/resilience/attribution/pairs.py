"""Tables of who runs where, bounded, that mark a conflict instead of keeping either side:
key -> host (`pair`: a pid seen on two hosts maps to "") and key -> rank (`pair_rank`: -1).
`rankmap.py`, `slots.py` and `nccl.py` fill them.
"""

from __future__ import annotations

from typing import TypeVar

from .lines import IP

__all__ = ["MAX_PAIRS", "pair", "pair_rank"]

K = TypeVar("K")

MAX_PAIRS = 1024  # pairs kept per table and cycle


def pair(table: dict[int, str], key: int, host: str, names: bool = False) -> None:
    """Record key -> host; a key seen with two hosts (pids repeat across nodes) maps to "".
    With `names` (a rank's host: one node), a key seen with an IP and a name keeps the name
    (Ray names a node by its IP, NCCL by its name)."""
    if key in table:
        known = table[key]
        if known != host and known and not names:
            table[key] = ""
        elif known != host and known:
            ip_known, ip_new = bool(IP.fullmatch(known)), bool(IP.fullmatch(host))
            table[key] = known if ip_new and not ip_known else host if ip_known and not ip_new \
                else ""
    elif len(table) < MAX_PAIRS:
        table[key] = host


def pair_rank(table: dict[K, int], key: K, rank: int) -> None:
    """Record pid (or another key) -> rank; a key seen with two ranks maps to -1."""
    if key in table:
        if table[key] != rank:
            table[key] = -1
    elif len(table) < MAX_PAIRS:
        table[key] = rank

"""When two names are the same node: `gpu-07` and `gpu-07.cluster.local` are; IPs only equal.

A culprit node can reach the rendezvous in another form than the agents registered with:
`socket.gethostname()` is the FQDN on some systems and the short name on others, SLURM and a
log's prefixes use the short one, torchelastic's `host :` the FQDN, and an LLM answers with
whichever it read. Exclusion and scoring compare with `same_host`, never with `==`.
"""

from __future__ import annotations

import re

__all__ = ["is_ip", "same_host", "short_name"]

_IPV4 = re.compile(r"\d{1,3}(?:\.\d{1,3}){3}")


def is_ip(name: str) -> bool:
    return bool(_IPV4.fullmatch(name)) or ":" in name


def short_name(name: str) -> str:
    """The first DNS label of a host name (`gpu-07` of `gpu-07.cluster.local`); an IP as is."""
    return name if is_ip(name) else name.split(".", 1)[0]


def same_host(a: str, b: str) -> bool:
    """Whether `a` and `b` name one node: equal, or equal first labels (case-insensitive, as
    DNS is) where neither is an IP address."""
    if a == b:
        return True
    if not a or not b or is_ip(a) or is_ip(b):
        return False
    return short_name(a).lower() == short_name(b).lower()

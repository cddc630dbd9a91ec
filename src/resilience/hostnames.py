"""When two names are the same node: `gpu-07` and `gpu-07.cluster.local` are; IPs only equal,
except that an AWS private DNS name (`ip-10-0-44-17`, `ip-10-0-44-17.ec2.internal`) is its IP.

A culprit node can reach the rendezvous in another form than the agents registered with:
`socket.gethostname()` is the FQDN on some systems and the short name on others, SLURM and a
log's prefixes use the short one, torchelastic's `host :` the FQDN, and an LLM answers with
whichever it read. The launcher's exclusion (`choose_excluded`), the engine's culprit nodes
and the accuracy benchmark compare with `same_host`.
"""

from __future__ import annotations

import ipaddress
import re

__all__ = ["is_ip", "same_host", "short_name"]


def is_ip(name: str) -> bool:
    try:
        ipaddress.ip_address(name.strip("[]"))
    except ValueError:
        return False
    return True


# EC2's private DNS name spells the instance's private IPv4 address
_EC2 = re.compile(r"ip-(\d{1,3})-(\d{1,3})-(\d{1,3})-(\d{1,3})")


def _ec2_address(name: str) -> str | None:
    m = _EC2.fullmatch(_labels(name)[0])
    return ".".join(m.groups()) if m else None


def short_name(name: str) -> str:
    """The first DNS label of a host name (`gpu-07` of `gpu-07.cluster.local`); an IP, or a
    name whose first label is a number (`10.0.0.7.nip.io`), as is."""
    first = name.split(".", 1)[0]
    return name if is_ip(name) or not first or first.isdigit() else first


def _labels(name: str) -> list[str]:
    return name.rstrip(".").lower().split(".")


def same_host(a: str, b: str) -> bool:
    """Whether `a` and `b` name one node: equal (IPs by address; an IP and EC2's name that
    spells it, `ip-10-0-44-17`), or, for names, one's labels
    begin the other's (`gpu-07` and `gpu-07.cluster.local`, `gpu-07.cluster` and
    `gpu-07.cluster.local`; not `gpu-07.a.net` and `gpu-07.b.net`), case-insensitively."""
    if a == b:
        return bool(a)
    if not a or not b:
        return False
    if is_ip(a) or is_ip(b):
        if not (is_ip(a) and is_ip(b)):  # an IP and a name: only EC2's names spell theirs
            a, b = (a, b) if is_ip(a) else (b, a)
            b = _ec2_address(b) or ""
            return is_ip(b) and ipaddress.ip_address(a.strip("[]")) == ipaddress.ip_address(b)
        return ipaddress.ip_address(a.strip("[]")) == ipaddress.ip_address(b.strip("[]"))
    la, lb = _labels(a), _labels(b)
    if not la[0] or la[0].isdigit():
        return False
    short, long_ = (la, lb) if len(la) <= len(lb) else (lb, la)
    return long_[:len(short)] == short

"""Fingerprints: the identity of a root cause across cycles.

`category:exception-type:normalized-message`, where the message keeps its words but loses
everything that changes from one cycle to the next: numbers, ranks, hosts, pids, addresses,
sizes, timestamps, paths' numeric parts. Two cycles failing "the same way" get equal strings.
"""

from __future__ import annotations

import re

from .lines import parse_line
from .registry import conditional_free

__all__ = ["exception_type", "fingerprint", "normalize_message"]

_EXC = re.compile(
    r"^\s{0,8}((?:\w{1,40}\.){0,6}[A-Z]\w{0,60}?(?:Error|Exception|Interrupt|Exit|Failure))"
    r"(?::|$)"
)
_VOLATILE = re.compile(
    r"[^\s\d]{0,200}\d\S{0,200}"  # tokens with a digit: ids, hosts, ips, sizes, times
    r"|0x[0-9a-fA-F]{1,16}"
)
_SPACE = re.compile(r"\s{1,400}")
_MAX_MSG = 72


def exception_type(content: str) -> str | None:
    """`torch.OutOfMemoryError` for `torch.OutOfMemoryError: CUDA out of memory...`."""
    m = _EXC.match(content)
    return m.group(1) if m else None


def normalize_message(content: str) -> str:
    """Lower-cased first clause of the message with volatile tokens replaced by `#`."""
    exc = exception_type(content)
    msg = content[len(exc) + 1:] if exc else content
    msg = conditional_free(msg[:1024]).split(". ", 1)[0]
    msg = _VOLATILE.sub("#", msg)
    msg = _SPACE.sub(" ", msg).strip(" .:#,;").lower()
    return msg[:_MAX_MSG]


def fingerprint(category: str, text: str, pattern_id: str) -> str:
    """Fingerprint of a root line (prefixes are stripped first)."""
    content = parse_line(text[:4096]).content
    exc = exception_type(content) or pattern_id
    return f"{category}:{exc}:{normalize_message(content)}"

"""A failure or a mention of one: a paste's title, a question or a reply quotes the error
(`... dies with "Bus error" on one worker`, `my job dies with DistStoreError after 30 min`)
where the log shows the failure itself elsewhere. A mention is not the root when a failure
of the same tier is in the stream (`combine._best_per_stream`), and a fault quoted in prose is
no candidate at all (`cycle_state`)."""

from __future__ import annotations

import re

from .digest import Candidate
from .fingerprint import exception_type
from .lines import LineInfo, parse_line
from .patterns import PATTERNS_BY_ID
from .registry import MAX_MATCH_CHARS

__all__ = ["a_failure", "quoted"]

# a program's log record, not prose: a clock or a `file.py:265` in its header
# (`I20231105 21:40:31 2771904 dinov2 train.py:265] NaN detected`)
_PRINTED = re.compile(r"\d\d:\d\d:\d\d|\.py:\d{1,6}\b")
# torchelastic's error file as its handler logs it: `"message": "RendezvousConnectionError: ..`
_JSON_MESSAGE = re.compile(r'"(?:message|error)": ?"')
_QUOTES = {'"': '"', "\u201c": "\u201d", "`": "`"}


def quoted(rx: re.Pattern[str], info: LineInfo) -> bool:
    """Whether a line without a prefix (no rank, host, clock or task: prose) has the fault
    only inside quotes, as a title or a question quotes it (`dies with "Bus error" on ..`).
    An exception's own line quoting its cause (`IoError(... message: "No space left on
    device")`) and a JSON error record (`"message": "..Error: .."`) are failures."""
    if info.rank is not None or info.host or info.timestamp is not None \
            or info.task is not None or info.local_rank is not None \
            or exception_type(info.content) is not None \
            or _JSON_MESSAGE.match(info.content.lstrip()) is not None:
        return False
    text = info.content[:MAX_MATCH_CHARS]
    m = rx.search(text)
    if m is None or m.start() == 0:
        return False
    for open_q, close_q in _QUOTES.items():
        opening = text.rfind(open_q, 0, m.start())
        if opening >= 0 and text.count(open_q, 0, opening) % 2 == 0 and \
                close_q in text[m.end():] and open_q not in text[opening + 1:m.start()]:
            return True
    return False


def a_failure(c: Candidate) -> bool:
    """Whether candidate `c` is a failure rather than a mention of one: a line of a rank, with
    a clock, or whose message is the fault (an exception raised, `FloatingPointError: ...`; a
    line that begins with it, `Loss is nan, stopping training`). A paste's title that quotes
    the error (`Posted in: Trainer > "FloatingPointError on all ranks"`) is none of these; a
    log record without a known prefix is one (`_PRINTED`)."""
    if c.rank is not None or c.timestamp is not None:
        return True
    content = parse_line(c.text).content.lstrip()
    content = content[m.end():] if (m := _JSON_MESSAGE.match(content)) else content
    pattern = PATTERNS_BY_ID.get(c.pattern)
    return exception_type(content) is not None or _PRINTED.search(content, 0, 120) is not None \
        or (pattern is not None and pattern.compiled.match(content) is not None)

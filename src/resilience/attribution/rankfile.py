"""A paste's per-rank files: a header naming one rank's own log, whose lines below are that
rank's (AzureML's `==> user_logs/std_log_process_12.txt <==` or `std_log_process_9.txt
(tail):`, submitit's `==> /ckpt/2311842_5_log.err <==`, `--- logs/rank_3.log ---`, composer's
`----------Begin global rank 13 STDERR----------` up to its `End` line), and a
worker's own line naming its global rank and its host (`rank=12 local_rank=4 world_size=16
host=b1a7..01`, `rank 0/16 local_rank 0 host 7e21..00`, submitit's `JobEnvironment(job_id=..,
hostname=node-a100-117, local_rank=1(4), node=1(2), global_rank=5(8))`).

Neither has an error keyword: `paste.node_lines` finds them between the candidates.
"""

from __future__ import annotations

import re

from .paste import a_host

__all__ = ["file_header", "rank_identity", "rank_title"]

_MAX_TITLE = 240
# a file header: tail's `==> PATH <==`, a framed `===== PATH (tail) =====` / `--- PATH ---`, a
# Markdown heading `### PATH`, `**PATH**`, `PATH (trimmed, it's 40k lines):`
_PATH = r"`?[\w./~-]{1,200}`?"
_NOTE = r"(?: \([^()]{0,80}\))? ?"
_HEADER = re.compile(r"==> ?" + _PATH + r" ?<==|#{1,6} " + _PATH + _NOTE
                     + r"|[=*-]{2,} ?" + _PATH + _NOTE + r"[=*-]{2,}"
                     + r"|" + _PATH + _NOTE + r":(?: ?`{3}\w{0,12})?")
# prose naming the file, ending in a colon: `user_logs/std_log_process_13.txt is different, it
# stops ~30 min earlier:` (the code block that follows is the file's)
_PROSE = re.compile(r".{0,200}:(?: ?`{3}\w{0,12})?")
# the file with a note and no colon, titling the code block after it the same way:
# `user_logs/std_log_process_19.txt (head + tail)`
_NOTED = re.compile(_PATH + r" \([^()]{1,80}\)")
# a rank's own file: AzureML's `std_log_process_12.txt`, `rank_3.log`, `log_rank3.txt` (not a
# node rank's or a local rank's), submitit's `<job>_<task>_log.err` (a task per rank)
_RANK_FILE = re.compile(
    r"(?<![\w-])[\w./~-]{0,200}?(?:std_log_process_"
    r"|(?<![a-z])(?<!node_)(?<!local_)(?<!node-)(?<!local-)rank[_-]?)"
    r"0*(\d{1,6})\.(?:txt|log|out|err)(?![\w.-])"
    r"|(?<![\w./-])(?:[\w.~-]{0,100}/)*\d{1,12}_(\d{1,6})_log\.(?:err|out)(?![\w.-])")


# composer's launcher prints each failed worker's output between
# `----------Begin global rank 13 STDERR----------` and `----------End global rank 13 STDERR---..`
_COMPOSER = re.compile(r"-{3,} ?(Begin|End) global rank (\d{1,6}) (?:STDOUT|STDERR) ?-{3,}$")


def file_header(text: str) -> bool:
    """Whether a line heads a pasted file (`==> logs/dmesg-node2.txt <==`, `--- PATH ---`),
    whoever's it is, or ends one (composer's `End global rank` line): the one before has
    ended."""
    if len(text) > _MAX_TITLE or not ("==" in text or "--" in text):
        return False
    stripped = text.strip()
    if (m := _COMPOSER.search(stripped)) is not None:  # (behind a prefix: `1: `, a time)
        return m.group(1) == "End"
    return _HEADER.fullmatch(stripped) is not None and not stripped.endswith(":") \
        and any(c.isalpha() for c in text)  # (not a rule of dashes)


def rank_title(text: str) -> tuple[int, bool] | None:
    """(rank, whether prose) of a header line naming one rank's own log file (see above):
    prose titles only the code block that follows it."""
    if len(text) > _MAX_TITLE or not ("_log" in text or "rank" in text):
        return None  # (asked of every error line of a paste: the words first)
    stripped = text.strip()
    if (m := _COMPOSER.search(stripped)) is not None:
        return (int(m.group(2)), False) if m.group(1) == "Begin" else None
    prose = _HEADER.fullmatch(stripped) is None
    if prose and _PROSE.fullmatch(stripped) is None and _NOTED.fullmatch(stripped) is None:
        return None
    ranks = {int(m.group(1) or m.group(2)) for m in _RANK_FILE.finditer(text)}
    return (next(iter(ranks)), prose) if len(ranks) == 1 else None


_ID_RANK = re.compile(r"(?<![\w-])(?:global_rank|rank|RANK|global rank)(?:=| ?: ?| )(\d{1,6})"
                      r"(?:/\d{1,6}|\(\d{1,6}\))?(?![\w.-])")
_ID_HOST = re.compile(r"(?<![\w-])(?:host|hostname|HOST|HOSTNAME|node_name|nodename)"
                      r"(?:=| ?: ?| )['\"]?([A-Za-z0-9][\w.-]{0,80}[A-Za-z0-9])['\"]?(?![\w.-])")
# prose about another host (`rank 3 lost its connection to host gpu-02`)
_ELSEWHERE = ("peer", " to ", " from ", "onnect", "unreachable", "resolve", " for host")
# a host word qualified as another's: `master host gpu-a01`, `store host=..`
_QUALIFIED = re.compile(r"(?:master|store|server|MASTER|STORE)[ ,:]{1,3}$")


def rank_identity(text: str) -> tuple[int, str] | None:
    """(global rank, host) of a worker's line naming both (see above): one rank and one
    host on the line, not prose about a connection to another host."""
    if len(text) > _MAX_TITLE * 4 or any(word in text for word in _ELSEWHERE):
        return None
    ranks = {int(m.group(1)) for m in _ID_RANK.finditer(text)}
    hosts = {m.group(1) for m in _ID_HOST.finditer(text)
             if not _QUALIFIED.search(text, max(0, m.start() - 12), m.start())}
    if len(ranks) != 1 or len(hosts) != 1:
        return None
    host = next(iter(hosts))
    return (next(iter(ranks)), host) if a_host(host) else None

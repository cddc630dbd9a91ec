"""A paste's per-rank files: a header naming one rank's own log, whose lines below are that
rank's (AzureML's `==> user_logs/std_log_process_12.txt <==` or `std_log_process_9.txt
(tail):`, submitit's `==> /ckpt/2311842_5_log.err <==`, `--- logs/rank_3.log ---`), and a
worker's own line naming its global rank and its host (`rank=12 local_rank=4 world_size=16
host=b1a7..01`, `rank 0/16 local_rank 0 host 7e21..00`, submitit's `JobEnvironment(job_id=..,
hostname=node-a100-117, local_rank=1(4), node=1(2), global_rank=5(8))`).

Neither has an error keyword: `paste.node_lines` finds them between the candidates.
"""

from __future__ import annotations

import re

from .paste import a_host

__all__ = ["rank_identity", "rank_title"]

_MAX_TITLE = 240
# a file header: tail's `==> PATH <==`, a framed `===== PATH (tail) =====` / `--- PATH ---`, a
# Markdown heading `### PATH`, `**PATH**`, or `PATH (trimmed, it's 40k lines):` alone on its line
_PATH = r"`?(?P<{0}>[\w./~-]{{1,200}})`?"
_HEADER = re.compile(
    r"==> ?" + _PATH.format("a") + r" ?<=="
    r"|(?:[=*-]{2,}|#{1,6}) ?" + _PATH.format("b") + r"(?: \([^()]{0,80}\))? ?[=*-]{0,20}"
    r"|" + _PATH.format("c") + r"(?: \([^()]{0,80}\))? ?:(?: ?`{3}\w{0,12})?")
# a rank's own file: AzureML's `std_log_process_12.txt`, `rank_3.log`, `log_rank3.txt` (not a
# node rank's or a local rank's), submitit's `<job>_<task>_log.err` (a task per rank)
_RANK_FILE = re.compile(
    r"(?:std_log_process_|(?<![a-z])(?<!node_)(?<!local_)(?<!node-)(?<!local-)rank[_-]?)"
    r"0*(\d{1,6})\.(?:txt|log|out|err)$"
    r"|^\d{1,12}_(\d{1,6})_log\.(?:err|out)$")


def rank_title(text: str) -> int | None:
    """The global rank whose own log file a header line names (see above), if it is one."""
    if len(text) > _MAX_TITLE or not ("_log" in text or "rank" in text):
        return None  # (asked of every error line of a paste: the words first)
    m = _HEADER.fullmatch(text.strip())
    if m is None:
        return None
    name = (m.group("a") or m.group("b") or m.group("c")).rsplit("/", 1)[-1]
    f = _RANK_FILE.search(name)
    return int(f.group(1) or f.group(2)) if f else None


_ID_RANK = re.compile(r"(?<![\w-])(?:global_rank|rank|RANK|global rank)(?:=| ?: ?| )(\d{1,6})"
                      r"(?:/\d{1,6}|\(\d{1,6}\))?(?![\w.-])")
_ID_HOST = re.compile(r"(?<![\w-])(?:host|hostname|HOST|HOSTNAME|node_name|nodename)"
                      r"(?:=| ?: ?| )['\"]?([A-Za-z0-9][\w.-]{0,80}[A-Za-z0-9])['\"]?(?![\w.-])")
# prose about another host (`rank 3 lost its connection to host gpu-02`)
_ELSEWHERE = ("peer", " to ", " from ", "onnect", "unreachable", "resolve")


def rank_identity(text: str) -> tuple[int, str] | None:
    """(global rank, host) of a worker's line naming both (see above): one rank and one
    host on the line, not prose about a connection to another host."""
    if len(text) > _MAX_TITLE * 4 or any(word in text for word in _ELSEWHERE):
        return None
    ranks = {int(m.group(1)) for m in _ID_RANK.finditer(text)}
    hosts = {m.group(1) for m in _ID_HOST.finditer(text)}
    if len(ranks) != 1 or len(hosts) != 1:
        return None
    host = next(iter(hosts))
    return (next(iter(ranks)), host) if a_host(host) else None

"""Where in a pasted log a line is: the host a command line above it names (`$ kubectl logs
<pod>`, `kubectl describe pod <pod>`, a prompt `user@host:~$ python train.py`, a bare `$ ssh
HOST cmd`), and the section title and code block it is in (`=== node 1 (gpu-a800-02) ===`,
`==> user_logs/std_log_process_12.txt <==`).

`Sections` is one cycle's (`CycleState`), beside its `RankMap`, which it tells the node rank a
title names. On a stream whose node is known (ftrun's launcher names it) that node wins:
titles and command lines give no host.
"""

from __future__ import annotations

from dataclasses import dataclass

from .lines import LineInfo
from .paste import fenced, host_title, kubectl_pod, prompt_host, section_title, ssh_host
from .rankfile import file_header, rank_title
from .rankmap import RankMap

__all__ = ["Sections"]


@dataclass
class Sections:
    """The paste's structure around the lines of one cycle so far."""

    ranks: RankMap  # the cycle's
    node: str | None  # the stream's node, if known
    # offline pastes: `$ kubectl logs <pod>`, `kubectl describe pod <pod>`, a prompt
    # `user@host:~$ python train.py` name the host of the lines that follow
    section_host: str | None = None
    prompt_hosts: frozenset[str] | None = None  # hosts seen before the prompt, while it holds
    by_ssh: bool = False  # `section_host` is a bare `$ ssh HOST cmd`'s (the next `$ ` ends it)
    # a section title's host (`=== node 1 (gpu-a800-02) ===`): the host of the workers' and
    # their launcher's lines below it, until the next title, a command, or the close of the
    # code block it titles
    title_host: str | None = None
    title_fence: bool = False  # inside a Markdown code block (its close ends the title)
    # the rank whose own log file a header names (`==> user_logs/std_log_process_12.txt <==`):
    # the rank of the lines below without one, until the same ends as a title's host
    title_rank: int | None = None
    rank_in_block: bool = False  # a prose title's: only in the code block that follows it
    # whether the title opened the code block the lines are in (None: nothing after it yet)
    title_block: bool | None = None
    title_text: str = ""  # the title's own line

    def place(self, info: LineInfo) -> LineInfo:
        """`info` with the host of its section where it names none: a command line's above
        it, else the section title's (`_under_title`)."""
        if info.host is None and self.section_host and self.node is None:
            info = info._replace(host=self.section_host)
        return self._under_title(info)

    def _under_title(self, info: LineInfo) -> LineInfo:
        """`info` with the section title's host if it is a worker's line or its launcher's
        record without a host of its own (and a rank the titled node may run), or any line
        without a rank inside the code block the title opens."""
        if info.host is not None or not self.title_host or self.node is not None:
            return info
        if self.title_block is None and not self.title_fence \
                and info.content not in self.title_text:
            self.title_block = False  # a line between the title and a code block
        if (info.rank is not None and not info.rank_is_task and self.ranks.in_section(info.rank)) \
                or info.local_rank is not None or "failed (exitcode" in info.content \
                or "exits with return code" in info.content \
                or info.content.startswith("-- Process ") \
                or (info.rank is None and self.title_fence and self.title_block):
            return info._replace(host=self.title_host)
        return info

    def titled_rank(self, info: LineInfo) -> int | None:
        """The rank whose own log file the title names, for a line of it without a rank (and
        without a host, or with a pid: not a host's syslog)."""
        if self.title_rank is None or (info.host is not None and info.pid is None):
            return None
        if self.rank_in_block and not self.title_fence:
            self.title_rank = None  # prose, and no code block after it: no title
        return self.title_rank  # a line of the rank's own file (not a host's syslog)

    def relay(self, info: LineInfo, own_host: str | None) -> LineInfo:
        """`info` with its own host (`own_host`, before `place`) again where the prompt's
        program relays other hosts' output (`_relayed`), which ends the prompt's section."""
        if self.prompt_hosts is not None and self._relayed(own_host):
            # the prompt's program prints other hosts' lines too (a Ray driver): they are not
            # that host's
            self.section_host = self.prompt_hosts = None
            info = info._replace(host=own_host)
        return info

    def carry(self, before: Sections) -> None:
        """The section title and code block the lines are in, as the cycle `before` (a
        restart's) left them, and the titled node's base."""
        self.title_host, self.title_fence = before.title_host, before.title_fence
        self.title_rank, self.rank_in_block = before.title_rank, before.rank_in_block
        if before.title_host:
            self.ranks.section_base = before.ranks.section_base

    def paste_line(self, text: str) -> None:
        """A line between the candidates that names a node or fences a code block
        (`paste.node_lines`): which host has which node rank, a section title, the end of the
        titled section's block."""
        if not self.structure(text) and not self._ssh(text):
            self.ranks.launcher_words(text)

    def structure(self, text: str) -> bool:
        """A paste's structure on a line: a section title (`paste.section_title`), a code
        fence (whose close ends the titled block); True for a fence line (nothing more)."""
        if self.node is not None:
            return False
        if (title := section_title(text.strip())) is not None:  # (it looks for its words)
            self.title_host, self.title_rank, self.title_block = title[0], None, None
            self.title_text = text
            self.ranks.titled(title[1])
        elif (titled := rank_title(text)) is not None:  # (so does it)
            self.title_host, (self.title_rank, self.rank_in_block) = None, titled
        elif ":" in text[-24:] and (
                hosted := host_title(text, self.ranks.layout.indexed())) is not None:
            self.title_host, self.title_rank = hosted[0], None  # `the tail from gpu-b07:`
            self.title_block, self.title_text = None, text
            self.ranks.titled(hosted[1])
        elif file_header(text):  # (it looks for its words)
            self.title_rank = None  # another file (`==> logs/dmesg-node2.txt <==`) follows
        fence = fenced(text)
        if fence:
            self.title_fence = not self.title_fence
            if self.title_fence and self.title_block is None:
                self.title_block = True  # the titled block opens right after its title
            if not self.title_fence:
                self.title_host = self.title_rank = None  # a titled block ends with its fence
            if self.by_ssh:  # a code block opens or closes: what ssh printed has ended
                self.section_host, self.by_ssh, self.prompt_hosts = None, False, None
        return fence == 2

    def command(self, info: LineInfo) -> bool:
        """Whether `info` is a pasted command line that says whose output follows (`kubectl
        logs <pod>`, a prompt `user@host:~$ torchrun ...`); it sets `section_host`."""
        if "kubectl " in info.content and (pod := kubectl_pod(info.content)):
            self.section_host, self.by_ssh = pod, False  # the pasted output of one pod follows
            self.title_host = self.title_rank = None
            self.prompt_hosts = None  # a pod's output, whatever prompt came before
            return True
        if self._ssh(info.content):
            return True
        prompt = prompt_host(info.content) if "@" in info.content else None
        if prompt is None:
            return False
        self.section_host, self.by_ssh = prompt or None, False
        self.title_host = self.title_rank = None
        self.prompt_hosts = frozenset(self.ranks.hosts)
        host = info.host or (self.section_host if self.node is None else None)
        self.ranks.add(info._replace(host=host), None, False)  # only its node rank counts
        return True

    def _ssh(self, content: str) -> bool:
        """Whether `content` is a bare command line: `$ ssh HOST cmd` (whose output is HOST's)
        or another one, which ends such a section."""
        host = ssh_host(content) if self.node is None else None
        if host is None or not (host or self.by_ssh):
            return False
        self.section_host, self.by_ssh = host or None, bool(host)
        self.title_host = self.title_rank = None
        self.prompt_hosts = frozenset(self.ranks.hosts) if host else None
        return True

    def _relayed(self, own_host: str | None) -> bool:
        """Whether a line after a prompt names a host other than the prompt's (its prefix
        `own_host`, a worker table's IP), so the prompt's program relays other hosts' output."""
        known = self.prompt_hosts or frozenset()
        return bool(own_host and own_host != self.section_host) or bool(
            self.ranks.hosts - known - {self.section_host})

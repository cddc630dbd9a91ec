"""A paste's structure: command lines that say whose output follows (`kubectl logs <pod>`,
`kubectl describe pod <pod>`, a shell prompt `user@host:~$ python train.py`), the words that
say which host has which node rank (`gpu-box-b = node_rank 1`), and section titles that say
whose output follows (`=== node 1 (gpu-a800-02) ===`, `dgx-a-09 (node_rank 1):`)."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping

from .hostlist import FIRST_RANGE

__all__ = ["a_host", "fenced", "host_title", "kubectl_pod", "node_lines", "node_ranks",
           "prompt_host", "section_title", "ssh_host"]

# a shell command line `$ kubectl [-n ns] logs|describe pod [options] <pod>` (not prose that
# mentions kubectl)
_KUBECTL = re.compile(r"^(?:[^$#]{0,200}[$#] {1,4})?kubectl ([^|;&]{0,400})")
_KUBECTL_VALUE_OPTIONS = frozenset({
    "-n", "--namespace", "-c", "--container", "--tail", "--since", "--since-time",
    "--limit-bytes", "--max-log-requests", "--pod-running-timeout", "--context",
    "--kubeconfig", "--cluster", "--user", "-s", "--server"})
_POD = re.compile(r"(?:pods?/)?([a-z0-9][a-z0-9.-]{0,252})")


def kubectl_pod(content: str) -> str | None:
    """The pod of a pasted `kubectl logs` or `kubectl describe pod` command line, if it names
    exactly one."""
    m = _KUBECTL.match(content.strip())
    if m is None:
        return None
    verb: str | None = None
    tokens = iter(m.group(1).split())
    for token in tokens:
        if token in ("-l", "--selector") or token.startswith(("-l=", "--selector=")):
            return None  # a selection of pods
        if token.startswith("-"):
            if token in _KUBECTL_VALUE_OPTIONS:
                next(tokens, None)
            continue
        if verb is None:
            if token not in ("logs", "describe"):
                return None
            verb = token
            continue
        if verb == "describe":
            if token.startswith(("pod/", "pods/", "po/")):
                verb = "logs"
            elif token in ("pod", "pods", "po"):
                verb = "logs"
                continue
            else:
                return None  # another kind of object: `describe node gpu-3`
        pod = _POD.fullmatch(token.removeprefix("po/"))
        if pod is None or _another_pod(tokens):
            return None  # not a pod name, or several pods
        return pod.group(1)
    return None


def _another_pod(tokens: Iterator[str]) -> bool:
    """Whether the rest of a kubectl command line names another pod (not an option value)."""
    for token in tokens:
        if token.startswith("-"):
            if token in _KUBECTL_VALUE_OPTIONS:
                next(tokens, None)
            continue
        return True
    return False


# a pasted shell prompt and its command: `(env) user@host:~/dir$ cmd`, `root@host:/w# cmd`,
# `[user@host dir]$ cmd`
_PROMPT = re.compile(r"(?:\([\w.-]{1,40}\) )?(?:[\w.-]{1,32}@(?P<h1>[\w.-]{1,80}):[^\s$#]{0,200}"
                     r"|\[[\w.-]{1,32}@(?P<h2>[\w.-]{1,80}) [^\]]{0,200}\])[$#] {1,4}"
                     r"(?P<cmd>\S.{0,400})")
_ENV_SET = re.compile(r"(?:[A-Z_][A-Z0-9_]{0,60}=\S{0,200} {1,4}){0,16}")
# commands whose output is not this host's own: the scheduler's, another host's, a file's
_ELSEWHERE = frozenset({
    "sbatch", "srun", "salloc", "squeue", "sacct", "scontrol", "sinfo", "pdsh", "clush",
    "mpirun", "mpiexec", "kubectl", "ray", "gcloud", "aws", "az", "cat", "tail", "head", "less",
    "more", "grep", "zcat", "zgrep", "rg", "awk", "sed", "vim", "vi", "diff", "git", "docker"})


_WRAPPERS = frozenset({"sudo", "time", "nohup", "exec", "env", "nice", "stdbuf", "numactl"})


def prompt_host(content: str) -> str | None:
    """For a pasted shell prompt, the host whose output follows: the prompt's host, the host
    `ssh` runs its command on, or "" when the command prints another host's (`srun`,
    `kubectl`) or a file's (`cat`, `tail`), or None when `content` is no prompt."""
    m = _PROMPT.match(content)
    if m is None:
        return None
    cmd = m.group("cmd")
    words = _ENV_SET.sub("", cmd, count=1).split(None, 1)
    program = words[0].rsplit("/", 1)[-1] if words else ""
    rest = words[1] if len(words) > 1 else ""
    while program in _WRAPPERS and rest:  # `sudo -u bob ssh gpu-4`, `env X=1 python ...`
        args = rest.split()
        i = 0
        while i < len(args) and (args[i].startswith("-") or "=" in args[i]):
            i += 2 if args[i] in ("-u", "-g") else 1
        if i >= len(args):
            break
        program, rest = args[i].rsplit("/", 1)[-1], " ".join(args[i + 1:])
    if program == "ssh":
        return _ssh_target(rest) or ""
    return "" if program in _ELSEWHERE else m.group("h1") or m.group("h2") or ""


_SSH_VALUE_OPTIONS = frozenset({"-p", "-i", "-l", "-o", "-J", "-F", "-b", "-c", "-E", "-m",
                                "-O", "-S", "-W", "-w", "-L", "-R", "-D", "-e"})
_BARE_SSH = re.compile(r"\$ {1,4}(?:sudo )?ssh (.{1,400})")


def _ssh_target(args: str) -> str | None:
    """The host an `ssh [options] [user@]host [command]` runs its command on."""
    words = iter(args.split())
    for word in words:
        if word.startswith("-"):
            if word in _SSH_VALUE_OPTIONS:
                next(words, None)
            continue
        host = word.rsplit("@", 1)[-1]
        return host if a_host(host) else None
    return None


def ssh_host(content: str) -> str | None:
    """For a pasted bare command line `$ ssh gpu-a-042 dmesg -T`, the host whose output
    follows; "" for another bare command line (`$ sinfo -R`), None for no command line."""
    if not content.startswith("$ "):
        return None
    m = _BARE_SSH.match(content)
    return (_ssh_target(m.group(1)) or "") if m else ""


# Which host has which node rank, in a paste's own words: `gpu-box-a = node_rank 0`,
# `ml-train-02 (machine_rank 1)`, `**dgx-07** (node_rank 1)`, `=== ml-worker-4 (node rank 1)
# ===`; `machine_rank 1 = h100-b-07`, `NODE_RANK=0 on ml-worker-3, 1 on ml-worker-4`; `node1 =
# a3-mega-12`, `node 1 (gpu-a800-02)`, `machine 1 (vision-08)`. Not a range
# (`a2-ultragpu-8g (node_rank 1-3)` is a machine type's).
_HOST = r"([A-Za-z][\w.-]{0,60}\w)"
_RANK_WORD = r"(?:node|machine|NODE|MACHINE)[_ -](?:rank|RANK)"
_HOST_IS_NODE = re.compile(_HOST + r"(?:\*\*|`)? {0,2}(?:=|\(|:) {0,2}(" + _RANK_WORD
                           + r")[= :]{0,3}(\d{1,4})\b(?![-\d])")
_NODE_IS_HOST = re.compile(_RANK_WORD + r"[= ]{0,3}(\d{1,4}) ?(?:=|on|\(|:|->) ?" + _HOST
                           + r"((?:, (?:and )?\d{1,4} (?:on|=) [A-Za-z][\w.-]{0,60}\w){0,16})")
_NODE_N = re.compile(r"\b(?:[Nn]ode|NODE|[Mm]achine|MACHINE) ?(\d{1,3}) ?(?:= ?|\()" + _HOST
                     + r"(?![\w.-])")
_MORE_HOSTS = re.compile(r", (?:and )?(\d{1,4}) (?:on|=) ([A-Za-z][\w.-]{0,60}\w)")
# `MASTER_ADDR`, `node`, `machine`; a name with `_` (`x86_64`: no host name has one); a GPU
# model (`A100-SXM4-80GB`, `H100-80GB`)
_NOT_A_HOST = re.compile(r"[A-Z_]{1,80}|[^\d-]{1,80}|[\w.-]{0,80}_[\w.-]{0,80}"
                         r"|(?:[AHLBV]\d{2,3}|MI\d{3}|G[BH]\d{3})\b[\w.-]{0,60}")


_RANK_WORDS = ("node_rank", "node rank", "node-rank", "NODE_RANK", "machine_rank",
               "machine rank", "machine-rank", "MACHINE_RANK")
_RANK_WORD_AT = re.compile(_RANK_WORD)
# where `_NODE_N` may match: a literal first (a fast scan), not `gpu-node-1:` in an NCCL prefix
_NODE_N_AT = tuple(re.compile(rx) for rx in (r"ode ?\d", r"ODE ?\d", r"achine ?\d", r"ACHINE ?\d"))
_BEFORE = 72  # a host and its separator before a rank word: at most this many characters


def node_ranks(text: str) -> list[tuple[str, int]]:
    """(host, node rank) pairs `text` states (see above). Each search runs only where its
    words are, and a host before a rank word is looked for next to it: linear and cheap on
    the long error lines this is given."""
    pairs: list[tuple[str, str]] = []
    if any(word in text for word in _RANK_WORDS):
        for w in _RANK_WORD_AT.finditer(text):  # the host just before this rank word
            pairs += [(m.group(1), m.group(3)) for m in _HOST_IS_NODE.finditer(
                text, max(0, w.start() - _BEFORE), w.end() + 8) if m.start(2) == w.start()]
        for m in _NODE_IS_HOST.finditer(text):
            pairs += [(m.group(2), m.group(1)), *((h, k) for k, h in
                                                 _MORE_HOSTS.findall(m.group(3) or ""))]
    if any(rx.search(text) for rx in _NODE_N_AT):
        pairs += [(m.group(2), m.group(1)) for m in _NODE_N.finditer(text)]
    return [(host, int(index)) for host, index in pairs if a_host(host)]


def a_host(name: str) -> bool:
    """Whether `name` may be a host's (not `MASTER_ADDR`, `node`, `x86_64`, a GPU model)."""
    return not _NOT_A_HOST.fullmatch(name)


# a heading: framed (`=== .. ===`, `---- .. ----`, `### ..`, `**..**`, `==> ..`) or ending in
# a colon (`Node 1 (hx-08), I only have the end of the tmux scrollback:`)
_FRAMED = re.compile(r"^\s{0,4}(?:[=#*>-]{2,}|#{1,6} )"
                     r"|(?:[=*-]{2,}|:|:\*\*|:?\s?`{3}\w{0,12})\s{0,4}$")
_MAX_TITLE = 240


def section_title(text: str) -> tuple[str, int] | None:
    """(host, node rank) of a section title: a heading naming one host with its node rank,
    whose output the lines below are (`=== node 1 (gpu-a800-02) ===`, `Output of NODE_RANK=1
    (gpu-l40s-02):`, `dgx-a-09 (node_rank 1) has less output, just:`), not in an aside
    (`console, both attempts (node 1 = seg-node-02 looks the same):`)."""
    if len(text) > _MAX_TITLE or not ("ode" in text or "ODE" in text or "achine" in text
                                      or "ACHINE" in text) or not _FRAMED.search(text):
        return None  # (the word checks first: this is asked of every error line of a paste)
    pairs = set(node_ranks(text))
    if len(pairs) != 1:
        return None
    host, index = next(iter(pairs))
    start = min(i for i in (text.find(host), *(text.find(w) for w in _NODE_WORDS_AT))
                if i >= 0)
    return None if text.count("(", 0, start) > text.count(")", 0, start) else (host, index)


_NODE_WORDS_AT = ("node", "Node", "NODE", "machine", "Machine", "MACHINE")
# a line ending in a host and a colon: `this is the tail from h100-sxm-11:`, `**gpu-b07**:`
_ENDS_WITH_HOST = re.compile(r"(?<![\w.-])`?\*{0,2}([A-Za-z][\w.-]{0,60}\w)\*{0,2}`?:"
                             r"(?: ?`{3}\w{0,12})?\s{0,4}$")


def host_title(text: str, indexed: Mapping[str, int]) -> tuple[str, int] | None:
    """(host, node rank) of a line ending in a host the paste gives a node rank (`indexed`, or
    this line) and a colon: the title of that host's output below it."""
    if len(text) > _MAX_TITLE * 2 or ":" not in text[-24:] \
            or (m := _ENDS_WITH_HOST.search(text)) is None:
        return None
    host = m.group(1)
    index = indexed.get(host, dict(node_ranks(text)).get(host, -1))
    return (host, index) if index >= 0 else None


# what `node_ranks` and `section_title` need on a line between the candidates (not
# `gpu-node-1:...` in an NCCL prefix; a line with `node_rank`, `NODE_RANK` or `machine_rank` is
# a candidate), each search starting with a literal: a fast scan (one alternation is 20-40x
# slower); a search starts where its literal's first byte first is (memchr). ~40 ms per 2 MiB.
def _first_byte(rx: bytes) -> bytes:
    """The literal byte a search of `rx` starts with (`\\xc3` and `\\$` are escapes)."""
    if rx.startswith(b"\\x"):
        return bytes.fromhex(rx[2:4].decode())
    return rx[1:2] if rx.startswith(b"\\") else rx[:1]


_NODE_WORDS = tuple((_first_byte(rx), re.compile(rx)) for rx in (
    rb"ode(?<=[Nn]ode)(?: ?\d{1,3} ?[(=:]|[ -][Rr]ank)", rb"ODE(?: ?\d{1,3} ?[(=:]|[ -]RANK)",
    rb"achine(?<=[Mm]achine)(?: ?\d{1,3} ?[(=:]|[ -][Rr]ank)",
    rb"ACHINE(?: ?\d{1,3} ?[(=:]|[_ -]RANK)",
    # a launcher's processes per node (`torchrun --nproc_per_node 8`, accelerate's
    # `--num_processes 16`): no keyword of their own
    rb"nproc[_-]per[_-]node", rb"NPROC_PER_NODE", rb"num[_-](?:processes|gpus)\b",
    rb"--map-by ", rb"npernode",  # mpirun's mapping (`rankmap`)
    FIRST_RANGE.encode(),  # a SLURM host list: `gn-a100-[21-24]`, `gn-[1,3-4]`
    rb"ntasks-per-node",
    rb"```", rb"~~~",
    # a rank's own log file's header and a worker's line naming its rank and host
    # (`rankfile.py`)
    rb"_log(?:_process_|\.(?:err|out)\b)", rb"rank[_-]?\d{1,6}\.(?:txt|log|out|err)\b",
    rb"host(?:name)?(?:[=:]| \w)", rb"HOST(?:NAME)?[=:]",
    # the processes per node in prose (`2 nodes x 8 H100`, `8 GPUs per node`: `nodelayout`)
    rb" x ?\d", rb"\xc3\x97 ?\d", rb"per (?:node|machine|host)\b", rb"/node\b",
    # a line ending in a digit (or `**host**`) and a colon may end in a host (`host_title`)
    rb":\n(?<=[\d*`]:\n)", rb":\r\n(?<=[\d*`]:\r\n)",
    rb"Begin global rank \d", rb"End global rank \d",  # composer's `---Begin global rank 13 STDERR`
    rb"==> ", rb"--- ",  # a file's header: another file's lines follow (`rankfile.file_header`)
    rb"\$ "))  # a bare command line: `$ ssh gpu-a-042 dmesg` and the next one (`ssh_host`)
_FENCE = re.compile(r"\s{0,4}(?:`{3,}|~{3,})[\w+-]{0,20}\s{0,4}")
_TRAILING_FENCE = re.compile(r"(?<!`)`{3}[\w+-]{0,20}\s{0,4}$")


def fenced(text: str) -> int:
    """2 if the line is a Markdown code fence (```, ```log, ~~~), 1 if it ends with one (a
    title opening the block it titles: `node 0 (gpu-a800-01): ````), else 0."""
    if "`" not in text and "~" not in text:
        return 0
    if _FENCE.fullmatch(text):
        return 2
    return 1 if _TRAILING_FENCE.search(text) else 0


def node_lines(buf: bytes, a: int, b: int) -> Iterator[tuple[int, str]]:
    """(offset, text) of the lines of buf[a:b] that name a node or machine (where a paste
    says which host has which node rank, or titles a host's output), may fence a code block,
    head a rank's own log file or name a worker's rank and host (`rankfile.py`), each once."""
    hits = sorted(m.start() for byte, rx in _NODE_WORDS
                  if (first := buf.find(byte, a, b)) >= 0  # memchr
                  for m in rx.finditer(buf, first, b))
    end = a
    for at in hits:
        if at < end:
            continue  # on a line already given
        start = buf.rfind(b"\n", a, at) + 1 or a
        end = buf.find(b"\n", at, b)
        end = b if end < 0 else end
        if end - start <= _MAX_TITLE * 4:
            yield start, buf[start:end].decode("utf-8", "replace")

"""A paste's structure: command lines that say whose output follows (`kubectl logs <pod>`,
`kubectl describe pod <pod>`, a shell prompt `user@host:~$ python train.py`)."""

from __future__ import annotations

import re
from collections.abc import Iterator

__all__ = ["kubectl_pod", "prompt_host"]

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
    "sbatch", "srun", "salloc", "squeue", "sacct", "scontrol", "sinfo", "ssh", "pdsh", "clush",
    "mpirun", "mpiexec", "kubectl", "ray", "gcloud", "aws", "az", "cat", "tail", "head", "less",
    "more", "grep", "zcat", "zgrep", "rg", "awk", "sed", "vim", "vi", "diff", "git", "docker"})


_WRAPPERS = frozenset({"sudo", "time", "nohup", "exec", "env", "nice", "stdbuf", "numactl"})


def prompt_host(content: str) -> str | None:
    """For a pasted shell prompt, the host whose output follows: the prompt's host, or "" when
    the command prints another host's (`ssh`, `srun`, `kubectl`) or a file's (`cat`, `tail`),
    or None when `content` is no prompt."""
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
    return "" if program in _ELSEWHERE else m.group("h1") or m.group("h2") or ""

"""What one stream's lines say about who runs where: rank -> host, pid -> host, pid -> rank,
host -> ranks. `resolve` uses these to give a culprit line without a rank or host its rank and
node.

Sources: a line whose prefixes name a rank (or pid) and a host; NCCL's init line of the world
communicator (`host:pid:tid [5] NCCL INFO comm 0x.. rank 13 nranks 16`); Ray Train's worker
table (`(ip=10.0.2.41, pid=5126) world_rank=14`, also pid -> IP and rank -> IP); DeepSpeed's
`global_rank_mapping=` and its
`process 48210 spawned with command: [..., '--local_rank=3', ...]`; the torchelastic
agent's `Rendezvous complete for workers. Result: ... global_ranks=[8, ...]` (local -> global
on a log that shows one node's, and in a paste of several nodes' logs one after the other the
section below it); torchelastic's failure records (`exitcode : -6 (pid: 24411)` of `rank :
13`); Open MPI's `--display-map` (`Data for node: X ...` then `Process OMPI jobid: ..
Process rank: 8`) and, where a line confirms it, a hostfile's slot order (`gpu-c02 slots=4`)
(`slots.py`); NCCL's `busId` of a rank's GPU, named by a kernel line's PCI address (`nccl.py`).

srun's task ids (`13: ` from `srun -l`, `srun: error: host: task 13`) are ranks only when srun
started one task per rank. When it started one launcher (torchrun) per node, they are node
indices: a stream whose lines name ranks above every task id seen is such a log, and its task
ids are then no ranks (`tasks_are_ranks`), and a rank printed under task 1 runs on the host
srun names for task 1.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from .lines import LineInfo
from .nccl import NcclWorld
from .nodelayout import NodeLayout
from .pairs import MAX_PAIRS as _MAX_PAIRS
from .pairs import pair, pair_rank
from .rankfile import rank_identity
from .records import rank_mapping
from .slots import Slots
from .slurm import SlurmJob

__all__ = ["RankMap", "pair", "pair_rank"]

_AGENT_GLOBALS = re.compile(r"global_ranks=\[((?:\d{1,6}, ){0,1023}\d{1,6})\]")
_NODE_RANK = re.compile(r"(?:--(?:node|machine)[_-]rank[= ]|\bnode_rank=|\bmachine_rank="
                        r"|\b(?:PET_)?NODE_RANK=)"
                        r"(\d{1,6})\b")
_NPROC = re.compile(r"(?:--nproc[_-]per[_-]node[= ]|\bnum_local_procs=|\bnum_gpus="
                    r"|--num[_-]gpus[= ]|\b(?:PET_)?NPROC_PER_NODE(?:=|: {1,24})|\bnproc_per_node=)"
                    r"(\d{1,4})\b")
# Ray Train's worker: `Setting up process group for: env:// [rank=6, world_size=8]`
_RAY_PG = re.compile(r"Setting up process group for: \S{1,200} \[rank=(\d{1,6}), world_size=")
# a pod's environment in `kubectl describe pod` (`PET_NODE_RANK:       2`): its node rank
_ENV_NODE_RANK = re.compile(r"\s{0,12}(?:PET_)?NODE_RANK: {1,24}(\d{1,4})\s{0,4}")
_PER_NODE_WORDS = ("nproc", "NPROC", "num_local_procs", "num_gpus", "num-gpus")
_AGENT_OF_MANY = re.compile(r"local_rank: [1-9]|closing signal SIG")
_TASKS = re.compile(r": tasks? ([\d,-]{1,200})")
_NUMBER = re.compile(r"\d{1,6}")
_SPAWNED = re.compile(r"process (\d{1,9}) spawned with command: \[[^\]]{0,2000}?"
                      r"'--local_rank=(\d{1,6})'")
_RAY_RANK = re.compile(r"(?:\bip=(\d{1,3}(?:\.\d{1,3}){3}), )?\bpid=(\d{1,9})\) "
                       r"world_rank=(\d{1,6})\b")


_MAX_TASKS = 256  # task ids of one `srun: error:` line paired with its host


def _task_ids(ranges: str) -> list[int]:
    """srun's `4-7,9` as [4, 5, 6, 7, 9]; none for more than `_MAX_TASKS` (not a cut list)."""
    ids: list[int] = []
    for part in ranges.split(","):
        first, _, last = part.partition("-")
        if not first.isdigit() or (last and not last.isdigit()):
            continue
        if int(last or first) - int(first) + len(ids) >= _MAX_TASKS:
            return []
        ids += range(int(first), int(last or first) + 1)
    return ids


@dataclass
class RankMap:
    rank_hosts: dict[int, str] = field(default_factory=dict)
    pid_hosts: dict[int, str] = field(default_factory=dict)
    pid_ranks: dict[int, int] = field(default_factory=dict)
    host_ranks: dict[str, list[int]] = field(default_factory=dict)
    # the same pairs for an srun task id standing in for a rank (merged if tasks are ranks)
    task_hosts: dict[int, str] = field(default_factory=dict)
    task_pids: dict[int, int] = field(default_factory=dict)
    rank_tasks: dict[int, int] = field(default_factory=dict)  # `1: [rank13]: ...`
    nccl: NcclWorld = field(default_factory=NcclWorld)  # NCCL's world communicator
    agent_globals: list[list[int]] = field(default_factory=list)  # distinct `global_ranks=`
    # the first global rank of a node: node_rank x processes per node, from a launcher's
    # command line or log (`torchrun --node_rank=2 --nproc_per_node=8`, DeepSpeed's
    # `num_local_procs=8, node_rank=1`, detectron2's `machine_rank=1, num_gpus=8`, a
    # PyTorchJob's `PET_NODE_RANK=3 PET_NPROC_PER_NODE=8` as its entrypoint prints them), keyed
    # by the line's srun task (`task 2`), its host, or "" (this stream's node); -1 if two disagree
    bases: dict[str, int] = field(default_factory=dict)
    # DeepSpeed's `process 48210 spawned with command: [..., '--local_rank=3', ...]`
    spawned: dict[int, tuple[str, int]] = field(default_factory=dict)
    slots: Slots = field(default_factory=Slots)  # a hostfile's or Open MPI's map's
    # the node base of the last such line without a task or host (or of a torchelastic
    # agent's `global_ranks=[8, 9, ...]`): in a paste of several nodes' outputs one after the
    # other, the base of the section a line is in
    section_base: int | None = None
    workers_since_agent: bool = False  # a local rank's line since the last `global_ranks=`
    locals_seen: bool = False  # any line of a local rank (`[default3]:`)
    max_rank: int = -1  # highest rank a line named itself
    max_task: int = -1  # highest srun task id seen
    # a node's IP -> its host name, from a line that names both (Ray's `(Worker pid=5, ip=10.0.3.14)
    # ray-gpu-2:5:9 [0] NCCL ...`): hosts are reported by name; "" if two names disagree
    aliases: dict[str, str] = field(default_factory=dict)
    hosts: set[str] = field(default_factory=set)  # every host a line named (at most 64)
    # `1: [default3]:` or `0: [rank2]:`: a line of one rank under another task id, so srun
    # started a launcher per node and its tasks are nodes
    tasks_are_nodes: bool = False
    slurm: SlurmJob = field(default_factory=SlurmJob)  # SLURM's node numbering (`slurm.py`)
    # hosts' node ranks in a paste's own words and the processes per node
    layout: NodeLayout = field(default_factory=NodeLayout)

    @property
    def tasks_are_ranks(self) -> bool:
        if self.tasks_are_nodes or self.slurm.launchers_by_node_id():
            return False
        return self.max_rank <= self.max_task or self.max_task < 0

    def rank_of_pid(self, pid: int, host: str | None) -> int | None:
        """The rank paired with `pid` so far, unless that rank is known to run on another
        host than `host` (pids repeat across nodes and containers). NCCL's communicators are
        left to `final()`: the biggest seen so far may be a sub-group's."""
        rank = self.pid_ranks.get(pid, -1)
        if rank < 0:
            return None
        known = self.rank_hosts.get(rank)
        return None if host and known and known != host else rank

    def add(self, info: LineInfo, rank: int | None, local: bool) -> None:
        """Pairs on one line; `rank` is the line's (or its stream's) rank, `local` whether it
        is a local one."""
        self._task(info)
        self.workers_since_agent |= info.local_rank is not None
        self.locals_seen |= info.local_rank is not None
        self._prefixes(info, rank, local)
        self._tables(info)

    def _task(self, info: LineInfo) -> None:
        """What a line under an srun task id says about tasks: the highest id, and whether
        tasks are nodes (nothing for a line without one)."""
        if info.task is not None:
            self.max_task = max(self.max_task, info.task)
            if "srun: error: " in info.content and (m := _TASKS.search(info.content)):
                # `tasks 4-7,9`: the highest task id srun names, and each one's host
                self.max_task = max(self.max_task, *map(int, _NUMBER.findall(m.group(1))))
                for task in _task_ids(m.group(1)) if info.host else ():
                    pair(self.task_hosts, task, info.host or "")
            # a rank of its own, a local rank, or the torchelastic agent of more than one
            # worker (a local rank above 0, a sibling it stops) under a task id: srun started
            # one launcher per node
            self.tasks_are_nodes |= info.local_rank is not None or (
                info.rank is not None and not info.rank_is_task and info.rank != info.task) or (
                "elastic.multiprocessing.api" in info.content
                and _AGENT_OF_MANY.search(info.content) is not None)

    def _prefixes(self, info: LineInfo, rank: int | None, local: bool) -> None:
        """Pairs of the line's prefixes: rank -> host, pid -> host, pid -> rank, IP -> name."""
        by_task = info.rank_is_task and rank == info.task
        if rank is not None and not local and not by_task:
            self.max_rank = max(self.max_rank, rank)
        hosts, pids = (self.task_hosts, self.task_pids) if by_task else (self.rank_hosts,
                                                                          self.pid_ranks)
        if info.host and rank is not None and not local:
            pair(hosts, rank, info.host, names=True)
        if info.task is not None and rank is not None and not local and not by_task:
            pair_rank(self.rank_tasks, rank, info.task)
        if info.host and info.pid is not None:
            pair(self.pid_hosts, info.pid, info.host)
        if info.pid is not None and rank is not None and not local:
            pair_rank(pids, info.pid, rank)
        if info.host and len(self.hosts) < 64:
            self.hosts.add(info.host)
        if info.ip and info.host and info.host != info.ip and len(self.aliases) < _MAX_PAIRS \
                and self.aliases.setdefault(info.ip, info.host) != info.host:
            self.aliases[info.ip] = ""

    def _tables(self, info: LineInfo) -> None:
        """Pairs from what the line says (launchers' and NCCL's tables), not its prefixes."""
        content = info.content
        if "nranks" in content and info.pid is not None and info.host:
            self.nccl.read(content, info.pid, info.host)
        if "Setting up process group" in content and info.pid is not None \
                and (m := _RAY_PG.search(content)):  # a Ray worker's own rank
            pair_rank(self.pid_ranks, info.pid, int(m.group(1)))
            if info.host:
                pair(self.rank_hosts, int(m.group(1)), info.host, names=True)
        if "world_rank=" in content:
            for ray in _RAY_RANK.finditer(content):  # `(ip=10.0.2.41, pid=18201) world_rank=5`
                pid, rank = int(ray.group(2)), int(ray.group(3))
                pair_rank(self.pid_ranks, pid, rank)
                if ray.group(1):
                    if len(self.hosts) < 64:
                        self.hosts.add(ray.group(1))
                    pair(self.pid_hosts, pid, ray.group(1))
                    pair(self.rank_hosts, rank, ray.group(1), names=True)
        self.launcher_words(content)
        if ("node_rank" in content or "node-rank" in content or "machine_rank" in content
                or "machine-rank" in content or "NODE_RANK" in content) \
                and (nr := _NODE_RANK.search(content)) and (np := _NPROC.search(content)):
            key = f"task {info.task}" if info.task is not None else info.host or ""
            base = int(nr.group(1)) * int(np.group(1))
            if not key:
                self.section_base = base
            elif info.task is None:  # a launcher's line on a known host: its node rank
                self.layout.index(key, int(nr.group(1)), launcher=True)
            if len(self.bases) < _MAX_PAIRS and self.bases.setdefault(key, base) != base:
                self.bases[key] = -1
        if "NODE_RANK: " in content and info.host and (m := _ENV_NODE_RANK.fullmatch(content)):
            self.layout.index(info.host, int(m.group(1)))  # (a `kubectl describe pod`'s pod)
        if ("slots" in content or "OMPI jobid" in content) and (
                mapped := self.slots.read(content)):
            pair(self.rank_hosts, *mapped, names=True)
        if "spawned with command" in content and info.host and len(self.spawned) < _MAX_PAIRS \
                and (m := _SPAWNED.search(content)):
            self.spawned[int(m.group(1))] = (info.host, int(m.group(2)))
        if "global_rank_mapping=" in content and len(self.host_ranks) < _MAX_PAIRS:
            self.host_ranks.update(rank_mapping(content))
        if "global_ranks=[" in content and (m := _AGENT_GLOBALS.search(content)):
            self._agent([int(r) for r in m.group(1).split(", ")], info)

    def _agent(self, ranks: list[int], info: LineInfo) -> None:
        """A torchelastic agent's `global_ranks=[8, 9, ...]`."""
        if ranks not in self.agent_globals and len(self.agent_globals) < 8:
            self.agent_globals.append(ranks)
        self.layout.per_node_is(len(ranks))
        if info.task is None and not info.host:
            # the agent of the node whose output follows; two agents with no worker line
            # between them started together, and their workers' lines interleave
            contiguous = ranks == list(range(ranks[0], ranks[0] + len(ranks)))
            self.section_base = ranks[0] if contiguous and (
                self.workers_since_agent or len(self.agent_globals) == 1) else None
            self.workers_since_agent = False

    def final(self) -> tuple[dict[int, str], dict[int, int]]:
        """(rank -> host, pid -> rank) with the NCCL world communicator's pairs (its ranks are
        the global ones; a smaller communicator's are not) and, if tasks are ranks, the srun
        tasks' pairs."""
        rank_hosts, pid_ranks = dict(self.rank_hosts), dict(self.pid_ranks)
        for pid, (rank, host) in self.nccl.world().items():
            pair_rank(pid_ranks, pid, rank)
            pair(rank_hosts, rank, host, names=True)
        for pid, (host, local) in self.spawned.items():
            pair(self.pid_hosts, pid, host)
            if local < len(ranks := self.host_ranks.get(host, ())):
                pair_rank(pid_ranks, pid, ranks[local])
        for host, ranks in self.host_ranks.items():  # DeepSpeed's own mapping
            for rank in ranks if host != "localhost" else ():  # one node, not named
                rank_hosts.setdefault(rank, host)
        if self.slots.hosts and not self.host_ranks:
            for rank, host in self.slots.by_slot(rank_hosts).items():
                rank_hosts.setdefault(rank, host)
        if self.tasks_are_ranks:
            for task, host in self.task_hosts.items():
                pair(rank_hosts, task, host)
            for pid, task in self.task_pids.items():
                pair_rank(pid_ranks, pid, task)
        else:  # a task is a node: a rank printed under task 1 runs on task 1's host
            for rank, task in self.rank_tasks.items():
                node = self.task_hosts.get(task)  # a rank seen under two tasks has task -1
                if node:
                    pair(rank_hosts, rank, node)
        for rank, host in self._layout().placed().items():
            rank_hosts.setdefault(rank, host)
        if self.aliases:
            rank_hosts = {rank: self.name(host) or "" for rank, host in rank_hosts.items()}
        return rank_hosts, pid_ranks

    def _layout(self) -> NodeLayout:
        """The paste's node layout with the node ranks SLURM's numbering (`slurm.py`) and a
        Kubeflow PyTorchJob's pod names give (a copy: a digest taken mid-stream changes
        nothing)."""
        layout = replace(self.layout, node_index=dict(self.layout.node_index),
                         counts=set(self.layout.counts), said=set(self.layout.said),
                         launched=dict(self.layout.launched))
        if per_node := self._srun_ranks_per_node():
            layout.per_node_is(per_node)
        by_node = self.slurm.launchers_by_node_id()
        for host, index in self.slurm.node_indices(self.task_hosts, per_node > 0).items():
            layout.index(host, index, launcher=by_node)
        layout.kubeflow(self.hosts)
        return layout

    def _srun_ranks_per_node(self) -> int:
        """The ranks per node where srun started one task per rank in blocks (its task ids
        are ranks by the log, and no torchelastic worker's lines), else 0."""
        if self.max_task < 0 or not self.tasks_are_ranks or self.locals_seen \
                or self.agent_globals:
            return 0
        return self.slurm.tasks_per_rank_node()

    def launcher_words(self, content: str) -> None:
        """Processes per node (`--nproc_per_node 8`), hosts' node ranks (SLURM's, by srun's
        task ids: `--node_rank $SLURM_NODEID`) and a worker's rank and host (`RANK=0
        LOCAL_RANK=0 NODE_RANK=0 ... host=7c1e..00`) a line gives."""
        if any(word in content for word in _PER_NODE_WORDS) and (np := _NPROC.search(content)):
            self.layout.per_node_is(int(np.group(1)))
        self.layout.read(content)
        self.slurm.read(content)
        self.slots.mapping(content)
        if ("host" in content or "HOST" in content) and (named := rank_identity(content)):
            self.identity(*named)

    def rank_of_gpu(self, content: str, host: str) -> int | None:
        """The rank whose GPU a kernel line on `host` names by its PCI address (`Xid
        (PCI:0000:ab:00): 79`), from NCCL's init lines (`.. rank 37 nranks 64 .. busId ab000`)."""
        return self.nccl.rank_of_gpu(content, host)

    def identity(self, rank: int, host: str) -> None:
        """A worker's own line names its global rank and host (`rankfile.rank_identity`)."""
        pair(self.rank_hosts, rank, host, names=True)
        if len(self.hosts) < 64:
            self.hosts.add(host)

    def in_section(self, rank: int) -> bool:
        """Whether a global rank may be one of the titled section's node (unknown: yes)."""
        per_node = self.layout.per_node()
        base = self.section_base
        return base is None or not per_node or base <= rank < base + per_node

    def titled(self, index: int) -> None:
        """A paste's section title names the node rank of the output below: its first global
        rank is the section's base, with the processes per node known."""
        per_node = self.layout.per_node()
        self.section_base = index * per_node if per_node else None

    def node_bases(self) -> dict[str, int]:
        """Each node's first global rank: the launchers' lines' (`bases`), and for a host the
        paste gives a node rank, node rank x processes per node."""
        return {**self._layout().bases(), **self.bases}

    def name(self, host: str | None) -> str | None:
        """`host` by its name where it is an IP that a line paired with one name."""
        return (self.aliases.get(host) or host) if host else host

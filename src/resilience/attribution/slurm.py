"""Node ranks from SLURM's own numbering, where srun gave ranks by node index.

Two launches do: one task per rank (`srun -l --ntasks-per-node=4 python train.py`, block
distribution: task t runs on the node of index t // 4), and one launcher per node given SLURM's
node index (`srun --ntasks-per-node=1 torchrun --node_rank $SLURM_NODEID`: task t is node rank
t). torchrun's rendezvous numbers nodes as they join, so without `$SLURM_NODEID` a launcher's
node rank is no index. A node's index is its place in the job's host list (`gn-a100-[21-24]`,
as `sacct` and `scontrol` print it) and srun names a task's host (`srun: error: gn-a100-22:
tasks 4-7: Killed`). A host list is taken only where it is the one the log gives and every
task -> host pair srun printed agrees with it (at least one does): another job's `squeue` row,
`sinfo`'s drained nodes or a cyclic distribution contradict it or say nothing.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .hostlist import host_lists

__all__ = ["SlurmJob"]

# a launcher's node rank is SLURM's node index (`--node_rank $SLURM_NODEID`, `--machine_rank
# "${SLURM_NODEID}"`, `NODE_RANK=$SLURM_PROCID` under one task per node)
_NODE_ID_RANK = re.compile(r"(?:--(?:node|machine)[_-]rank[= ]|\b(?:PET_)?NODE_RANK=)"
                           r"[\"']?\$\{?SLURM_(?:NODEID|PROCID)\b")
# a node launcher's words: srun started launchers, not workers
_NODE_LAUNCHERS = ("torchrun", "torch.distributed.run", "torch.distributed.launch",
                   "torch.distributed.elastic", "accelerate launch", "deepspeed ")
_TASKS_PER_NODE = re.compile(r"--ntasks-per-node[= ](\d{1,4})\b")
_CYCLIC = re.compile(r"(?:--distribution[= ]|(?<![\w-])-m ?)(?:cyclic|plane|arbitrary)")
_MAX_LISTS = 2  # two different lists: which is the job's is unknown


@dataclass
class SlurmJob:
    node_id_rank: bool = False  # a launcher's node rank is `$SLURM_NODEID`
    local_id: bool = False  # a worker's local rank is `$SLURM_LOCALID`: srun started workers
    node_launcher: bool = False  # a node launcher was named (torchrun, accelerate, deepspeed)
    cyclic: bool = False  # srun's tasks not in blocks (`--distribution=cyclic`)
    tasks_per_node: set[int] = field(default_factory=set)  # `--ntasks-per-node=4`
    lists: list[tuple[str, ...]] = field(default_factory=list)  # distinct, expanded
    seen: set[str] = field(default_factory=set)  # the lists as printed (expanded once each)

    def read(self, content: str) -> None:
        """What a line says about the launch and the job's nodes."""
        if "SLURM_" in content:
            self.node_id_rank |= _NODE_ID_RANK.search(content) is not None
            self.local_id |= "SLURM_LOCALID" in content
        self.node_launcher = self.node_launcher or any(w in content for w in _NODE_LAUNCHERS)
        if "ntasks-per-node" in content and (m := _TASKS_PER_NODE.search(content)) \
                and len(self.tasks_per_node) < 4:
            self.tasks_per_node.add(int(m.group(1)))
        if ("cyclic" in content or "plane" in content or "arbitrary" in content) \
                and _CYCLIC.search(content):
            self.cyclic = True
        if "[" in content and len(self.lists) < _MAX_LISTS:
            for hosts in host_lists(content, self.seen):
                if hosts not in self.lists and len(self.lists) < _MAX_LISTS:
                    self.lists.append(hosts)

    def launchers_by_node_id(self) -> bool:
        """Whether srun started one node launcher per node given SLURM's node index: its
        task t is node rank t."""
        return self.node_id_rank and self.node_launcher and not self.local_id \
            and max(self.tasks_per_node, default=1) == 1

    def tasks_per_rank_node(self) -> int:
        """The tasks per node where srun started one per rank in blocks, else 0."""
        if self.node_launcher or self.cyclic or len(self.tasks_per_node) != 1:
            return 0
        return next(iter(self.tasks_per_node))

    def node_indices(self, task_hosts: Mapping[int, str], ranks_by_task: bool) -> dict[str, int]:
        """host -> node index: srun's task t's host for a launcher per node given
        `$SLURM_NODEID`, and each host of the job's one host list where the task -> host pairs
        agree with it (`ranks_by_task`: srun started the ranks, `tasks_per_rank_node` per
        node)."""
        pairs = {task: host for task, host in task_hosts.items() if host}
        by_node = self.launchers_by_node_id()
        per_task = 1 if by_node else (self.tasks_per_rank_node() if ranks_by_task else 0)
        indices = {host: task for task, host in pairs.items()} if by_node else {}
        if per_task and len(self.lists) == 1:
            order = {host: index for index, host in enumerate(self.lists[0])}
            if pairs and all(order.get(host) == task // per_task for task, host in pairs.items()):
                indices.update(order)
        return indices

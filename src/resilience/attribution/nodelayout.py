"""Which host is which node rank, in a paste's own words, and how many processes each node
runs: together they place global ranks on hosts (rank = node rank x processes per node +
local rank) where no line pairs a rank with its host.

The node ranks come from `paste.node_ranks` (`gpu-box-b = node_rank 1`, `NODE_RANK=0 on
ml-worker-3, 1 on ml-worker-4`, `=== node 1 (gpu-a800-02) ===`); the processes per node from a
launcher's line (`--nproc_per_node=8`, accelerate's `--num_machines 2 ... --num_processes 16`,
a torchelastic agent's `global_ranks=[8, ..., 15]`), used only where every such line agrees;
failing those, from the paste's prose (`2 nodes x 8 H100`, `8 GPUs per node`), one process per
GPU, where it gives one value. A launcher started on one node only (`torchrun --standalone`,
`--nnodes 1`) runs every rank on the one host the lines name. A Kubeflow PyTorchJob's pods
are node ranks by name: `<job>-master-0` is 0, `<job>-worker-N` is N + 1.
Global rank 0 runs on node rank 0 under every launcher, whatever the processes per node.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from .paste import node_ranks

__all__ = ["NodeLayout"]

_MAX_HOSTS = 1024
_MAX_PER_NODE = 64  # processes per node taken from a launcher's line
_MAX_RANKS = 1024  # ranks placed
# accelerate's total: `--num_machines 2 ... --num_processes 16` is 8 per node
_ACCELERATE = re.compile(
    r"--num[_-]machines[= ](\d{1,4})\b.{0,400}?--num[_-]processes[= ](\d{1,6})\b"
    r"|--num[_-]processes[= ](\d{1,6})\b.{0,400}?--num[_-]machines[= ](\d{1,4})\b")
# prose: `2 nodes x 8 H100`, `4 machines × 4 GPUs`, `8 GPUs per node`, `4 gpus/node`
_PROSE = re.compile(r"\b\d{1,4} ?(?:nodes?|machines?|hosts?|servers?) ?(?:x|\u00d7|\*) ?(\d{1,3})\b"
                    r"(?! ?(?:nodes?|machines?|[GT]B?\b))"
                    r"|\b(\d{1,3}) ?(?:GPUs?|gpus?|processes|ranks) ?(?:per |/ ?|on each )"
                    r"(?:node|machine|host)\b")
_PROSE_WORDS = ("node", "achine", "host", "server")
_MANY_NODES = re.compile(r"--nnodes[= ](?:[2-9]|\d{2,5})\b|\b(?:PET_)?NNODES=(?:[2-9]|\d{2,5})\b"
                         r"|--num[_-]machines[= ](?:[2-9]|\d{2,5})\b")
_ONE_NODE = re.compile(r"--standalone\b|--nnodes[= ]1(?::1)?(?![:\d])|--num[_-]machines[= ]1\b"
                       r"|\b(?:PET_)?NNODES=1\b|\bnnodes=1\b")


@dataclass
class NodeLayout:
    # host -> node rank in a paste's own words; -1 if two lines disagree
    node_index: dict[str, int] = field(default_factory=dict)
    counts: set[int] = field(default_factory=set)  # processes per node the lines give
    said: set[int] = field(default_factory=set)  # ... and the paste's prose gives
    one_node: bool = False  # a launcher's line says it runs on one node
    many_nodes: bool = False  # ... and one says it runs on more (a comparison: neither holds)
    # host -> node rank a launcher's own line on that host gives (`user@gpu-ws-72:~$ torchrun
    # --node-rank 1 ...`): it wins over the paste's words (`node 2 (gpu-ws-72)` counts from 1;
    # another host the words give that node rank is dropped)
    launched: dict[str, int] = field(default_factory=dict)

    def read(self, content: str) -> None:
        """What a line says: hosts' node ranks, accelerate's machines and processes."""
        for host, index in node_ranks(content):  # (which looks for its words first)
            self.index(host, index)
        if ("num_machines" in content or "num-machines" in content) \
                and (m := _ACCELERATE.search(content)):
            machines, total = (int(m.group(1)), int(m.group(2))) if m.group(1) else (
                int(m.group(4)), int(m.group(3)))
            if machines > 0 and total % machines == 0:
                self.per_node_is(total // machines)
        if ("standalone" in content or "NNODES" in content or "nnodes" in content
                or "num_machines" in content or "num-machines" in content) \
                and _ONE_NODE.search(content):
            self.one_node = True
        if ("nnodes" in content or "NNODES" in content or "machines" in content) \
                and _MANY_NODES.search(content):
            self.many_nodes = True
        if any(word in content for word in _PROSE_WORDS) and len(self.said) < 4:
            self.said.update(int(m.group(1) or m.group(2)) for m in _PROSE.finditer(content))

    def index(self, host: str, index: int, launcher: bool = False) -> None:
        """`host` has node rank `index` (in a launcher's own line on it)."""
        table = self.launched if launcher else self.node_index
        if len(table) < _MAX_HOSTS and table.setdefault(host, index) != index:
            table[host] = -1

    def per_node_is(self, count: int) -> None:
        if len(self.counts) < 4:
            self.counts.add(count)

    def per_node(self) -> int:
        """The processes per node the lines agree on (the launchers', else the prose's),
        or 0."""
        counts = self.counts or self.said
        count = next(iter(counts)) if len(counts) == 1 else 0
        return count if count <= _MAX_PER_NODE else 0

    def indexed(self) -> dict[str, int]:
        """host -> node rank where the paste says so and no two hosts claim one node rank."""
        claimed = set(self.launched.values())
        said = {**{h: i for h, i in self.node_index.items() if i not in claimed},
                **self.launched}
        claims: dict[int, int] = {}
        for index in said.values():
            claims[index] = claims.get(index, 0) + 1
        return {host: index for host, index in said.items() if index >= 0 and claims[index] == 1}

    def placed(self) -> dict[int, str]:
        """rank -> host: rank 0 on node rank 0's host; with the processes per node known,
        each node's ranks."""
        placed: dict[int, str] = {}
        per_node = self.per_node()
        for host, index in self.indexed().items():
            if index == 0:
                placed[0] = host
            if per_node and (index + 1) * per_node <= _MAX_RANKS:
                placed.update(dict.fromkeys(range(index * per_node, (index + 1) * per_node),
                                            host))
        return placed

    def on_one_node(self, hosts: set[str], top: int) -> dict[int, str]:
        """rank -> host for ranks 0 .. `top` (or the processes per node) on the one node of a
        launcher started on one node, if the lines name one host (`hosts`)."""
        if not self.one_node or self.many_nodes or len(hosts) != 1:
            return {}
        host = next(iter(hosts))
        return dict.fromkeys(range(min(max(self.per_node(), top + 1), _MAX_RANKS)), host)

    def bases(self) -> dict[str, int]:
        """host -> its first global rank, with the processes per node known (node rank 0's
        without: 0)."""
        per_node = self.per_node()
        return {host: index * per_node for host, index in self.indexed().items()
                if per_node or index == 0}

    def kubeflow(self, hosts: set[str]) -> None:
        """A Kubeflow PyTorchJob's pods (`<job>-master-0`, `<job>-worker-N`) among `hosts`:
        the operator gives the master node rank 0 and worker N node rank N + 1."""
        masters = {host[:-len("-master-0")] for host in hosts if host.endswith("-master-0")}
        for host in hosts:
            job, _, index = host.rpartition("-worker-")
            if host.endswith("-master-0") and host[:-len("-master-0")] in masters:
                self.index(host, 0)
            elif job in masters and index.isdigit() and len(index) <= 4:
                self.index(host, int(index) + 1)

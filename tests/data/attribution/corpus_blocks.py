"""Building blocks of the corpus (see make_corpus.py).

Blocks are written from the shapes of public failure reports (PyTorch GitHub issues and
forum threads, NCCL issues, SLURM and kernel logs); see SOURCES.md. Deterministic output.
"""

from __future__ import annotations

import random
from pathlib import Path

HERE = Path(__file__).parent
OUT = HERE / "logs"
LABELS: dict[str, dict[str, object]] = {}
PY = "/usr/local/lib/python3.10/dist-packages"


def ts(minute: int, sec: int, frac: int = 123456) -> str:
    return f"1021 08:{minute:02d}:{sec:02d}.{frac:06d}"


def torchrun_banner() -> list[str]:
    w = "W1021 08:01:02.345000 140213 torch/distributed/run.py:793] "
    return [w, w + "*" * 41,
            w + "Setting OMP_NUM_THREADS environment variable for each process to be 1 in default, "
            "to avoid your system being overloaded, please further tune the variable for optimal "
            "performance in your application as needed. ", w + "*" * 41]


def nccl_init(host: str, ranks: range, nranks: int, pid0: int = 40211) -> list[str]:
    out = []
    for r in ranks:
        p = f"{host}:{pid0 + r}:{pid0 + r}"
        dev = r % 8
        out += [f"[rank{r}]:{p} [{dev}] NCCL INFO Bootstrap : Using eth0:10.1.0.{11 + r // 8}<0>",
                f"[rank{r}]:{p} [{dev}] NCCL INFO NET/Plugin: No plugin found (libnccl-net.so), using internal implementation",
                f"[rank{r}]:{p} [{dev}] NCCL INFO NET/IB : Using [0]mlx5_0:1/IB [1]mlx5_1:1/IB [2]mlx5_2:1/IB [3]mlx5_3:1/IB ; OOB eth0:10.1.0.{11 + r // 8}<0>",
                f"[rank{r}]:{p} [{dev}] NCCL INFO comm 0x55d0c1f0{r:02d} rank {r} nranks {nranks} cudaDev {dev} nvmlDev {dev} busId {18 + dev}000 commId 0x9e3f1a2b77c1 - Init COMPLETE"]
    if ranks.start == 0:
        out.insert(1, f"[rank0]:{host}:{pid0}:{pid0} [0] NCCL INFO cudaDriverVersion 12040")
        out.insert(2, "[rank0]:NCCL version 2.20.5+cuda12.4")
    return out


def megatron_iters(start: int, n: int, rank: int = 7, minute: int = 10) -> list[str]:
    out = []
    for i in range(start, start + n * 10, 10):
        loss = 7.5 - i / 4000
        out.append(f"[rank{rank}]: [2024-10-21 08:{minute:02d}:{(i // 10) % 60:02d}] iteration {i:8d}/  500000 | "
                   f"consumed samples: {i * 512:12d} | elapsed time per iteration (ms): 1523.4 | "
                   f"learning rate: 2.998E-04 | global batch size:   512 | lm loss: {loss:.6E} | "
                   "loss scale: 1.0 | grad norm: 1.234 | number of skipped iterations:   0 | "
                   "number of nan iterations:   0 |")
    return out


def user_warning(rank: int) -> str:
    return (f"[rank{rank}]:{PY}/torch/utils/checkpoint.py:464: UserWarning: torch.utils.checkpoint: "
            "the use_reentrant parameter should be passed explicitly. In version 2.4 we will raise an "
            "exception if use_reentrant is not passed.")


def watchdog(rank: int, minute: int = 45, seq: int = 25123, op: str = "ALLREDUCE") -> list[str]:
    t = f"[rank{rank}]:[E{ts(minute, 12, 100000 + rank)}"
    msg = (f"[Rank {rank}] Watchdog caught collective operation timeout: WorkNCCL(SeqNum={seq}, "
           f"OpType={op}, NumelIn=131072000, NumelOut=131072000, Timeout(ms)=600000) ran for "
           f"600{rank:03d} milliseconds before timing out.")
    return [
        f"{t} ProcessGroupNCCL.cpp:616] {msg}",
        f"{t} ProcessGroupNCCL.cpp:1785] [PG 0 (default_pg) Rank {rank}] Exception (either an error or timeout) detected by watchdog at work: {seq}, last enqueued NCCL work: {seq}, last completed NCCL work: {seq - 1}.",
        f"{t} ProcessGroupNCCL.cpp:630] [PG 0 (default_pg) Rank {rank}] Some NCCL operations have failed or timed out. Due to the asynchronous nature of CUDA kernels, subsequent GPU operations might run on corrupted/incomplete data.",
        f"{t} ProcessGroupNCCL.cpp:636] [PG 0 (default_pg) Rank {rank}] To avoid data inconsistency, we are taking the entire process down.",
        f"{t} ProcessGroupNCCL.cpp:1595] [PG 0 (default_pg) Rank {rank}] Process group watchdog thread terminated with exception: {msg}",
        f"[rank{rank}]:terminate called after throwing an instance of 'c10::DistBackendError'",
        f"[rank{rank}]:  what():  [PG 0 (default_pg) Rank {rank}] Process group watchdog thread terminated with exception: {msg}",
        f"[rank{rank}]:Exception raised from ncclCommWatchdog at ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1601 (most recent call first):",
        f"[rank{rank}]:frame #0: c10::Error::Error(c10::SourceLocation, std::string) + 0x96 (0x7f3b2c5a2446 in {PY}/torch/lib/libc10.so)",
        f"[rank{rank}]:frame #1: <unknown function> + 0xe5aa84 (0x7f3ad1a5aa84 in {PY}/torch/lib/libtorch_cuda.so)",
        f"[rank{rank}]:frame #2: <unknown function> + 0xdc253 (0x7f3b2c8dc253 in /lib/x86_64-linux-gnu/libstdc++.so.6)",
    ]


def traceback(rank: int | None, frames: list[tuple[str, int, str, str]], last: str) -> list[str]:
    p = f"[rank{rank}]: " if rank is not None else ""
    out = [f"{p}Traceback (most recent call last):"]
    for file, line, func, code in frames:
        out += [f'{p}  File "{file}", line {line}, in {func}', f"{p}    {code}"]
    return [*out, f"{p}{last}"]


TRAIN_FRAMES = [("/workspace/train.py", 412, "<module>", "main(args)"),
                ("/workspace/train.py", 377, "main", "loss = train_step(model, batch, optimizer)"),
                ("/workspace/train.py", 298, "train_step", "output = model(**batch)"),
                (f"{PY}/torch/nn/modules/module.py", 1736, "_wrapped_call_impl", "return self._call_impl(*args, **kwargs)"),
                (f"{PY}/torch/nn/parallel/distributed.py", 1643, "forward", "else self._run_ddp_forward(*inputs, **kwargs)")]


def elastic_summary(script: str, root: dict[str, object], others: list[dict[str, object]],
                    host: str = "node-01") -> list[str]:
    e = "E1021 08:46:01.456000 140213 torch/distributed/elastic/multiprocessing/api.py:869] "
    out = [e + f"failed (exitcode: {root['exitcode']}) local_rank: {root['local']} (pid: {root['pid']}) of binary: /usr/bin/python3",
           "Traceback (most recent call last):",
           '  File "/usr/local/bin/torchrun", line 8, in <module>', "    sys.exit(main())",
           f'  File "{PY}/torch/distributed/elastic/multiprocessing/errors/__init__.py", line 355, in wrapper',
           "    return f(*args, **kwargs)",
           f'  File "{PY}/torch/distributed/launcher/api.py", line 263, in launch_agent',
           "    raise ChildFailedError(",
           "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: ",
           "=" * 60, f"{script} FAILED", "-" * 60, "Failures:"]

    def block(i: int, f: dict[str, object]) -> list[str]:
        tb = (f"Signal {-int(str(f['exitcode']))} ({f.get('sig', 'SIGABRT')}) received by PID {f['pid']}"
              if int(str(f["exitcode"])) < 0 else
              "To enable traceback see: https://pytorch.org/docs/stable/elastic/errors.html")
        return [f"[{i}]:", f"  time      : {f.get('time', '2024-10-21_08:46:01')}",
                f"  host      : {f.get('host', host)}",
                f"  rank      : {f['rank']} (local_rank: {f['local']})",
                f"  exitcode  : {f['exitcode']} (pid: {f['pid']})", "  error_file: <N/A>",
                f"  traceback : {tb}"]

    for i, f in enumerate(others, 1):
        out += block(i, f)
    if not others:
        out.append("  <NO_OTHER_FAILURES>")
    out += ["-" * 60, "Root Cause (first observed failure):", *block(0, root), "=" * 60]
    return out


def interleave(*streams: list[str], seed: int = 0) -> list[str]:
    rng = random.Random(seed)
    pools = [list(s) for s in streams if s]
    out: list[str] = []
    while pools:
        s = rng.choice(pools)
        out.append(s.pop(0))
        if not s:
            pools.remove(s)
    return out


def write(name: str, lines: list[str], action: str, category: str, ranks: list[int] | None,
          nodes: list[str] | None = None, note: str = "", truncate: int | None = None) -> None:
    text = "\n".join(lines) + "\n"
    if truncate is not None:
        text = text[:truncate]
    (OUT / name).write_text(text, encoding="utf-8")
    label: dict[str, object] = {"action": action, "category": category}
    if ranks is not None:
        label["culprit_ranks"] = ranks
    if nodes is not None:
        label["culprit_nodes"] = nodes
    if note:
        label["note"] = note
    LABELS[name] = label



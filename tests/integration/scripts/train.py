"""A tiny gloo training script driven by flags, used by the integration tests and benches.

--fail-cycles 0,1   cycles in which --fail-rank fails ("all" = every cycle)
--mode MODE         how it fails: exit (no definite cause), valueerror, sigkill, keyerror,
                    netib, xid, hang (every rank sleeps forever), loop (every rank
                    all-reduces forever, so it fails when a peer dies)
--pid-dir DIR       write <cycle>_<rank>.pid so tests can check for orphans
--progress          print a newer iteration every cycle (the repeat rule sees progress)
--hold-until PATH   after the all_reduce, every rank waits for PATH to exist (tests pick
                    the moment a cycle ends)

The failing rank fails only once every rank has finished the all_reduce (a marker file per
rank in the temp dir, keyed by the run id), so a peer still reading its last chunk is not
reset mid-collective and the failing rank is the only one that fails.
"""

import argparse
import os
import signal
import sys
import tempfile
import time

parser = argparse.ArgumentParser()
parser.add_argument("--fail-cycles", default="")
parser.add_argument("--fail-rank", type=int, default=1)
parser.add_argument("--mode", default="exit")
parser.add_argument("--pid-dir", default="")
parser.add_argument("--progress", action="store_true", help="log a newer iteration each cycle")
parser.add_argument("--hold-until", default="")
args = parser.parse_args()

cycle = int(os.environ.get("RESILIENCE_CYCLE_ID", os.environ["TORCHELASTIC_RESTART_COUNT"]))
rank = int(os.environ["RANK"])
if args.pid_dir:
    with open(os.path.join(args.pid_dir, f"{cycle}_{rank}.pid"), "w") as f:
        f.write(str(os.getpid()))

import torch  # noqa: E402
import torch.distributed as dist  # noqa: E402

dist.init_process_group("gloo")
t = torch.ones(1) * (rank + 1)
dist.all_reduce(t)
print(f"rank {rank} cycle {cycle} allreduce {t.item():g}", flush=True)
if args.progress:  # training got further than in the previous cycle
    print(f"iteration {100 * (cycle + 1)} | loss 2.31", flush=True)
while args.hold_until and not os.path.exists(args.hold_until):
    time.sleep(0.05)

failing = args.fail_cycles == "all" or str(cycle) in args.fail_cycles.split(",")
if args.mode == "hang" and failing:
    while True:
        time.sleep(1)
if args.mode == "loop" and failing:
    while True:
        dist.all_reduce(t)
        time.sleep(0.05)
done = os.path.join(tempfile.gettempdir(),
                    f"resilience-train-{os.environ.get('TORCHELASTIC_RUN_ID', '')}-{cycle}-{{}}")
open(done.format(rank), "w").close()
if failing and rank == args.fail_rank:
    deadline = time.monotonic() + 60  # a peer that never gets here: fail anyway
    world = int(os.environ["WORLD_SIZE"])
    while time.monotonic() < deadline and not all(
            os.path.exists(done.format(r)) for r in range(world)):
        time.sleep(0.01)
    print(f"rank {rank} failing in cycle {cycle} ({args.mode})", file=sys.stderr, flush=True)
    if args.mode == "sigkill":
        os.kill(os.getpid(), signal.SIGKILL)
    if args.mode == "netib":  # a transient fabric fault: restarting on the same code helps
        print(
            "node1:1234:5678 [0] transport/net_ib.cc:1295 NCCL WARN NET/IB : Got completion "
            "from peer 10.0.0.2<51234> with error 12, opcode 0, len 0, vendor err 129 (Recv)",
            file=sys.stderr, flush=True,
        )
        sys.exit(1)
    if args.mode == "xid":  # this node's GPU died: restart elsewhere, exclude this node
        print("NVRM: Xid (PCI:0000:3b:00): 79, pid=1234, name=python, GPU has fallen off the "
              "bus.", file=sys.stderr, flush=True)
        sys.exit(1)
    if args.mode == "keyerror":
        batch = {"input": t}
        batch["labels"]
    if args.mode == "valueerror":
        raise ValueError(f"injected failure in cycle {cycle}")
    # "exit": die with no definite root cause in the log, so attribution restarts.
    print(f"injected failure in cycle {cycle}, exiting with code 1", file=sys.stderr, flush=True)
    sys.exit(1)
if failing:
    dist.all_reduce(t)  # the survivors block here until the launcher stops them
dist.destroy_process_group()

# ruff: noqa: E501  (regex and example strings read better unwrapped)
"""The signature registry: data only. Order matters: the first matching pattern wins, and
noise patterns come first so they veto lines that merely mention an error.

Regexes are written against real message formats of PyTorch, NCCL, the NVIDIA driver, the
Linux kernel and SLURM (not against our corpus). Quantifiers are bounded (`.{0,N}`), there is no
nested repetition, and lines are capped at MAX_MATCH_CHARS before matching.
"""

from __future__ import annotations

import re

from .registry import Pattern, Role
from .verdict import Category as C

__all__ = ["FINITE_ASSERT", "PATTERNS", "PATTERNS_BY_ID", "asserts_finite", "ray_node_ip"]

IN, K, N = Role.INITIATING, Role.CASCADE, Role.NOISE
EXC = r"^\s*(?:[\w]{1,40}\.){0,6}"  # optional module path before an exception name

PATTERNS: tuple[Pattern, ...] = (
    # ---- noise: never roots ------------------------------------------------------------------
    Pattern("warning", C.UNKNOWN, N, r"\b\w{0,40}Warning:|^\s*\[?W\d{4} \d\d:|\[WARNING\]|^WARNING[:\s]",
            "/opt/torch/nn/modules/module.py:1: UserWarning: error-prone API is deprecated"),
    Pattern("frame", C.UNKNOWN, N, r"^\s*frame #\d{1,4}|^\s*Exception raised from |^\s*File \"",
            "frame #3: c10::Error::Error(c10::SourceLocation, std::string) + 0x1c0 (libc10.so)"),
    Pattern("exit_line", C.UNKNOWN, N,
            r"exitcode\s{0,4}:|\(exitcode: -?\d{1,4}\)|Signal \d{1,3} \(SIG\w{2,8}\) received by PID"
            r"|error_file\s{0,4}:|errors\.html|Signal: Aborted|Fatal Python error: Aborted"
            r"|ChildFailedError|SignalException|got signal: \d|death signal|closing signal SIG"
            r"|task \d{1,6}: Exited with exit code|^\s*raise \w|^\s*\w{0,30}Error: $"
            r"|ProcessRaisedException:\s{0,4}$",  # mp.spawn's wrapper: the process's error follows
            "torch.distributed.elastic.multiprocessing.errors.ChildFailedError: "),
    Pattern("advice", C.UNKNOWN, N,
            r"kernel errors might be asynchronously reported|CUDA_LAUNCH_BLOCKING|TORCH_USE_CUDA_DSA"
            r"|NCCL INFO|[Ss]kipping step|OVERFLOW!|[Gg]radient overflow|error rate|errors?=0\b"
            r"|\b0 errors\b|destroy_process_group|NCCL_DEBUG=INFO for details\)?$",
            "node-01:1234:1290 [0] NCCL INFO NET/IB : No device found, falling back to error-free path"),
    # ---- gpu hardware (environment evidence: tier 0) -----------------------------------------
    Pattern("xid_fatal", C.GPU_HARDWARE, IN,
            r"\bX[Ii][Dd]\s{0,3}(?:\([^)]{0,40}\))?\s{0,3}[:,]?\s{0,3}"
            r"(?:48|6[34]|7[49]|9[245]|11[09]|120|14[0-9]|15[0-4])\b",
            "NVRM: Xid (PCI:0000:3b:00): 79, pid=2271, name=python, GPU has fallen off the bus.",
            tier=0, confidence=0.97),
    Pattern("gpu_off_bus", C.GPU_HARDWARE, IN, r"GPU has fallen off the bus|GPU is lost",
            "NVRM: GPU 0000:3b:00.0: GPU has fallen off the bus.", tier=0, confidence=0.97),
    Pattern("ecc", C.GPU_HARDWARE, IN,
            r"(?i:uncorrectable ECC|double[- ]bit ECC|ECC error.{0,40}uncorrect|\bDBE\b.{0,30}ECC"
            r"|row.?remap\w{0,6}.{0,20}fail|uncorrectable NVLink|NVLink.{0,60}(?:fatal|link down))",
            "RuntimeError: CUDA error: uncorrectable ECC error encountered", tier=0, confidence=0.95),
    Pattern("pcie_aer", C.GPU_HARDWARE, IN,
            r"AER:.{0,60}(?:Uncorrect|[Ff]atal)|PCIe Bus Error.{0,60}(?:Uncorrect|Fatal)",
            "pcieport 0000:00:03.1: AER: Uncorrected (Fatal) error received: 0000:3b:00.0",
            tier=0, confidence=0.9),
    Pattern("gpu_unavailable", C.GPU_HARDWARE, IN,
            r"busy or unavailable|no CUDA-capable device is detected|No CUDA GPUs are available"
            r"|cudaErrorDevicesUnavailable|Unable to determine the device handle",
            "RuntimeError: CUDA error: CUDA-capable device(s) is/are busy or unavailable",
            tier=0, confidence=0.7),
    # ---- host: node / OS faults --------------------------------------------------------------
    Pattern("kernel_oom", C.HOST, IN,
            r"Out of memory: Kill|invoked oom-killer|oom-kill:|oom_kill_process"
            r"|Memory cgroup out of memory|Detected \d{1,6} oom[-_]kill event"
            r"|killed due to the node running low on memory",  # Ray's memory monitor
            "slurmstepd: error: Detected 1 oom-kill event(s) in StepId=4242.0. Some of your "
            "processes may have been killed by the cgroup out-of-memory handler.",
            kind="memory", tier=0, confidence=0.9),
    # the line under Ray's memory-monitor kill names the worker it killed (`pid=14920`) and
    # its node (`IP: 10.0.44.19`): the same fault, with its culprit
    Pattern("ray_memory_monitor", C.HOST, IN,
            r"^Memory on the node \(IP: [\d.]{7,15}, .{0,400}\bpid=\d{1,9}\b.{0,800}"
            r"exceeds the memory usage threshold",
            "Memory on the node (IP: 10.0.44.19, ID: 8f2a61) where the task (actor ID: c4e1, "
            "name=RayTrainWorker.__init__, pid=14920, memory used=21.36GB) was running was "
            "179.42GB / 186.70GB (0.961001), which exceeds the memory usage threshold of 0.95.",
            kind="memory", tier=0, confidence=0.9),
    # a pod's status: `describe pod`'s / a YAML's `Reason: OOMKilled` line, a `kubectl get pods`
    # row, JSON's `"reason": "OOMKilled"`; not prose ("was the reason OOMKilled?")
    Pattern("pod_oomkilled", C.HOST, IN,
            r"^\s{0,12}[Rr]eason:\s{1,20}OOMKilled\s{0,8}$"
            r"|^[a-z0-9][a-z0-9.-]{0,252} {2,20}\d{1,3}/\d{1,3} {1,20}OOMKilled {1,20}\d"
            r"|\"reason\":\s{0,2}\"OOMKilled\"",
            "      Reason:       OOMKilled", kind="memory", tier=0, confidence=0.85,
            summary=True),
    Pattern("shm_full", C.HOST, IN,
            r"/dev/shm.{0,120}(?:No space left|[Ee]rror)|(?:No space left|failed to extend|"
            r"unable to (?:write to|allocate shared memory)).{0,120}(?:/dev/shm|</torch_|shm)"
            r"|unable to write to file </torch_|posix_fallocate failed.{0,40}No space left"
            r"|Error while creating shared memory segment",
            "RuntimeError: unable to write to file </torch_1234_3467_0>: No space left on device (28)",
            kind="memory", tier=0, confidence=0.9),
    # A DataLoader worker's SIGBUS: its tensors travel through /dev/shm, so this is the shared
    # memory the job exhausted at its own config (docker's 64 MB default); it recurs. The fact
    # (the bus error in the worker) is the evidence, not the "might be caused by" after it.
    Pattern("dataloader_bus", C.HOST, IN,
            r"[Bb]us error encountered in worker|DataLoader worker \(pid \d{1,9}\) is killed by "
            r"signal: Bus error",
            "RuntimeError: DataLoader worker (pid 4242) is killed by signal: Bus error. It is "
            "possible that dataloader's workers are out of shared memory.",
            kind="memory", tier=0, confidence=0.8),
    Pattern("sigbus", C.HOST, IN, r"\b[Bb]us error\b|SIGBUS(?! \(@)",
            "Fatal Python error: Bus error", kind="node", tier=0, confidence=0.75),
    # before `eio`: an EFA/libfabric completion error says "Input/output error" of the link
    Pattern("nccl_ofi_completion", C.NETWORK, K,
            r"NET/OFI.{0,120}(?:completed with error|fi_cq_readerr|err:)",
            "node-3:41872:42117 [5] ofi_process_cq:1033 NCCL WARN NET/OFI Request 0x7f32b8115318 "
            "completed with error. RC: 21. Error: Input/output error.", tier=0, confidence=0.7),
    Pattern("eio", C.HOST, IN,
            r"Input/output error|\[Errno 5\]|\bEIO\b|blk_update_request: I/O error"
            r"|Buffer I/O error on dev|critical medium error, dev |I/O Error \(sct 0x",
            "OSError: [Errno 5] Input/output error: '/scratch/shards/part-0042.bin'",
            kind="node", tier=0, confidence=0.8),
    Pattern("nofile", C.HOST, IN, r"Too many open files|\[Errno 24\]|EMFILE",
            "OSError: [Errno 24] Too many open files", kind="limits", tier=0, confidence=0.7,
            all_ranks=True),  # STOP only when every failing rank hit it (one node's ulimit: no)
    Pattern("driver", C.HOST, IN,
            r"driver version is insufficient|Driver/library version mismatch|NVML.{0,40}[Ee]rror",
            "RuntimeError: The NVIDIA driver on your system is too old; CUDA driver version is "
            "insufficient for CUDA runtime version", kind="node", tier=0, confidence=0.7),
    # ---- cuda oom ----------------------------------------------------------------------------
    Pattern("cuda_oom", C.CUDA_OOM, IN,
            r"OutOfMemoryError|CUDA out of memory|CUDA error: out of memory|HIP out of memory"
            r"|Cuda failure '?out of memory|cudaErrorMemoryAllocation|CUBLAS_STATUS_ALLOC_FAILED"
            r"|out of memory on device|CUDA driver error: out of memory",
            "torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 2.00 GiB. GPU 3 has a "
            "total capacity of 79.15 GiB of which 1.06 GiB is free.", confidence=0.95),
    # ---- numerical ---------------------------------------------------------------------------
    # before `nan_loss` (fairseq raises `FloatingPointError: Minimum loss scale reached`).
    # fp16's dynamic loss scale at its floor: one scale for the whole job (every rank's overflow
    # flag is all-reduced), so no rank's fault, whichever ranks print it (`culprits.py`)
    Pattern("loss_scale_min", C.NUMERICAL, IN,
            r"[Mm]inimum loss scale reached|loss scale already at minimum",
            "Exception: Current loss scale already at minimum - cannot decrease scale anymore. "
            "Exiting run.", confidence=0.9),
    Pattern("nan_loss", C.NUMERICAL, IN,
            r"[Ll]oss (?:is|became|become|was|=|:)\s{0,3}(?:nan|NaN|inf|Inf|-inf|infinite)\b|\b(?:NaN|nan) (?:loss|"
            r"detected|encountered|or Inf found in (?:loss|grad))|[Dd]etected (?:NaN|nan|inf|Inf)"
            r"|is non-finite|returned nan values|FloatingPointError|probability tensor contains either"
            r"|[Ll]oss (?:exploded|diverged)|contains (?:NaN|nan|inf)s?\b|found (?:NaN|Inf)\b"
            r"|[Nn]on-finite (?:loss|grad(?:ient)?s?|values?)\b",
            "Loss is nan, stopping training", confidence=0.9),
    # ---- storage -----------------------------------------------------------------------------
    Pattern("weights_only", C.USER_CODE, IN, r"Weights only load failed",
            "_pickle.UnpicklingError: Weights only load failed. Re-running `torch.load` with "
            "`weights_only` set to `False` will likely succeed", confidence=0.85),
    Pattern("no_space", C.STORAGE, IN,
            r"No space left on device|\[Errno 28\]|\bENOSPC\b|Disk quota exceeded|\[Errno 122\]",
            "OSError: [Errno 28] No space left on device", kind="no_space", confidence=0.9),
    Pattern("ckpt_corrupt", C.STORAGE, IN,
            r"PytorchStreamReader failed|failed finding central directory|file might be corrupted"
            r"|unexpected EOF, expected \d|invalid load key|EOFError: Ran out of input"
            r"|UnpicklingError|SafetensorError|HeaderTooLarge|MetadataIncompleteBuffer"
            r"|[Cc]heckpoint.{0,60}(?:corrupt|truncated)",
            "RuntimeError: PytorchStreamReader failed reading zip archive: failed finding central "
            "directory", kind="corrupt", confidence=0.8),
    Pattern("storage_io", C.STORAGE, IN,
            r"Stale file handle|Transport endpoint is not connected|PytorchStreamWriter failed"
            r"|file write failed|unexpected pos \d{1,20} vs \d|Read-only file system|Remote I/O error",
            "OSError: [Errno 116] Stale file handle", kind="io", tier=2, confidence=0.6),
    # ---- user code -------------------------------------------------------------------------
    Pattern("device_assert", C.USER_CODE, IN,
            r"device-side assert(?:ion)? triggered|Assertion `.{0,300}` failed",
            "RuntimeError: CUDA error: device-side assert triggered", confidence=0.9),
    # before `nccl_timeout`: a watchdog thread that "terminated with exception: CUDA error:
    # unknown error" is its own GPU's fault, not a wait on another rank
    Pattern("cuda_unknown", C.GPU_HARDWARE, IN, r"CUDA error: unknown error",
            "RuntimeError: CUDA error: unknown error", tier=1, confidence=0.5),
    Pattern("illegal_access", C.USER_CODE, IN,
            r"illegal memory access|misaligned address|illegal instruction was encountered",
            "RuntimeError: CUDA error: an illegal memory access was encountered",
            all_ranks=True, confidence=0.75),
    Pattern("shape_error", C.USER_CODE, IN,
            r"size mismatch for|shape '\[[^\]]{0,80}\]' is invalid|mat1 and mat2 shapes cannot"
            r"|must match the size of tensor|[Ss]izes of tensors must match|Dimension out of range"
            r"|Expected all tensors to be on the same device|expected scalar type \w{1,20} but found"
            r"|Given groups=\d{1,6}, weight of size|Input type \(.{0,60}\) and weight type"
            r"|index out of range in self|Expected input batch_size|Error\(s\) in loading state_dict"
            r"|[Ee]xpected .{0,80} to have .{0,20}dimension|not enough values to unpack",
            "RuntimeError: mat1 and mat2 shapes cannot be multiplied (64x1024 and 512x1024)",
            confidence=0.9),
    Pattern("ddp_misuse", C.USER_CODE, IN,
            r"finished reduction in the prior iteration|does not require grad and does not have"
            r"|modified by an inplace operation|backward through the graph a second time"
            r"|Default process group has not been initialized|[Mm]ismatch between collectives"
            r"|invalid device ordinal|Duplicate GPU detected|ncclInvalidUsage|invalid usage"
            r"|marked ready twice|unused parameters",
            "RuntimeError: Expected to have finished reduction in the prior iteration before "
            "starting a new one.", confidence=0.85),
    Pattern("argparse", C.USER_CODE, IN,
            r"^\S{1,120}: error: (?:unrecognized arguments|the following arguments are required"
            r"|argument )",
            "train.py: error: unrecognized arguments: --lr-warmup 100", confidence=0.9),
    Pattern("py_user_exc", C.USER_CODE, IN,
            EXC + r"(?:Import|ModuleNotFound|Syntax|Indentation|Name|Type|Attribute|Key|Value"
            r"|Assertion|Index|ZeroDivision|FileNotFound|Permission|NotImplemented|UnboundLocal"
            r"|Recursion|JSONDecode|ConfigAttribute|ConfigKey|Validation|Instantiation|HFValidation"
            r"|Unpickling|Lookup|Overflow)Error\b(?::|$)|" + EXC
            + r"(?:MissingMandatoryValue|InstantiationException)\b",
            "ModuleNotFoundError: No module named 'flash_attn'", confidence=0.9),
    # ---- network -----------------------------------------------------------------------------
    Pattern("ib_fatal", C.NETWORK, IN,
            r"local catastrophic error|IBV_EVENT_\w{0,20}(?:FATAL|ERR)|port \d{1,3} (?:is )?(?:down"
            r"|DOWN)|[Ll]ink (?:is )?(?:down|DOWN)\b|ibv_\w{1,30} failed|NET/IB.{0,40}(?:fatal|async)",
            "node-07:2231:2298 [3] NCCL WARN NET/IB : mlx5_2:1 Got async event : local catastrophic "
            "error", tier=0, confidence=0.85),
    # ---- cascades: consequences of another rank's failure ------------------------------------
    Pattern("nccl_ib_completion", C.NETWORK, K,
            r"NET/IB\s{0,3}:.{0,120}(?:completion|error \d)|NET/Socket\s{0,3}:.{0,120}"
            r"(?:error|fail|closed)|remote process exited or there was a network error",
            "node-03:881:902 [2] NCCL WARN NET/IB : Got completion from peer 10.1.0.12<51334> with "
            "status=12 opcode=0 len=0 vendor err 129 (Recv)", tier=0, confidence=0.7),
    Pattern("conn_reset", C.NETWORK, K,
            r"Connection reset by peer|[Cc]onnection closed by (?:remote )?peer|Broken pipe"
            r"|\[Errno 104\]|\[Errno 32\]|unhandled system error|ncclSystemError|No route to host"
            r"|Software caused connection abort|Network is unreachable",
            "ConnectionResetError: [Errno 104] Connection reset by peer", tier=0, confidence=0.6),
    Pattern("nccl_timeout", C.HANG, K,
            r"[Ww]atchdog (?:caught|got stuck|timeout|thread terminated)|Timeout at NCCL work"
            r"|collective operation timeout|before timing out|[Hh]eartbeat monitor timed out"
            r"|NCCL operations have failed or timed out|timed out in blocking wait|\bTimeoutError"
            r"|[Ww]atchdog.{0,80}(?:timeout|timed out)",
            "[rank2]:[E1021 08:14:07.512 ProcessGroupNCCL.cpp:616] [Rank 2] Watchdog caught collective"
            " operation timeout: WorkNCCL(SeqNum=1421, OpType=ALLREDUCE, NumelIn=1, NumelOut=1, "
            "Timeout(ms)=600000) ran for 600017 milliseconds before timing out.",
            tier=1, timeout=True, confidence=0.6),
    Pattern("nccl_abort", C.UNKNOWN, K,
            r"communicator was aborted|DistBackendError|NCCL communicator.{0,40}abort|ncclInternalError"
            r"|RendezvousClosedError|NCCL error in:",
            "RuntimeError: NCCL communicator was aborted on rank 5.", tier=2, confidence=0.3),
    # ---- rendezvous (weak initiating: tier 2) ------------------------------------------------
    Pattern("store_timeout", C.RENDEZVOUS, IN,
            r"Socket Timeout|socket has timed out|Timed out after \d{1,7} seconds waiting for"
            r"|RendezvousTimeoutError|store_based_barrier|Timed out initializing process group",
            "torch.distributed.DistStoreError: Timed out after 901 seconds waiting for clients. 1/2 "
            "clients joined.", tier=2, timeout=True, confidence=0.7),
    Pattern("store_error", C.RENDEZVOUS, IN,
            r"DistStoreError|RendezvousConnectionError|[Aa]ddress already in use|EADDRINUSE"
            r"|server socket has failed to (?:listen|bind)|DistNetworkError|TCPStore.{0,80}(?:fail"
            r"|[Ee]rror)|c10d store has failed",
            "RuntimeError: The server socket has failed to listen on any local network address. "
            "port: 29500, useIpv6: 0, code: -98, name: EADDRINUSE, message: address already in use",
            tier=2, confidence=0.75),
    # ---- scheduler (environment: tier 0) -----------------------------------------------------
    Pattern("slurm_time_limit", C.SCHEDULER, IN, r"CANCELLED AT \S{1,40} DUE TO TIME LIMIT",
            "slurmstepd: error: *** JOB 881234 ON gpu-st-p4d-24xlarge-17 CANCELLED AT "
            "2024-05-02T11:00:12 DUE TO TIME LIMIT ***", kind="time_limit", tier=0,
            confidence=0.97),
    Pattern("slurm_node_fail", C.SCHEDULER, IN,
            r"srun: error: Node failure on|NODE_FAIL|node failure",
            "srun: error: Node failure on gpu-node-113", kind="node_failure", tier=0,
            confidence=0.9),
    # slurmstepd of the batch host (or of each node) reporting that another node failed: the
    # host it names is the reporter's, not the culprit (`culprits.culprits`)
    Pattern("slurm_cancel_node_fail", C.SCHEDULER, IN, r"DUE TO NODE FAIL",
            "slurmstepd: error: *** JOB 3301928 ON gn-0117 CANCELLED AT 2024-02-19T04:12:55 DUE "
            "TO NODE FAILURE, SEE SLURMCTLD LOG FOR DETAILS ***", kind="node_failure", tier=0,
            confidence=0.9),
    # one node's VM reclaimed by the cloud (a spot / preemptible VM; the kubelet's pod message,
    # GCE's operation): that node is lost, like a node failure, not the whole job's allocation
    Pattern("node_preempted", C.SCHEDULER, IN,
            r"Pod was terminated in response to imminent node shutdown"
            r"|compute\.instances\.preempted",
            "Message:          Pod was terminated in response to imminent node shutdown.",
            kind="node_failure", tier=0, confidence=0.85, summary=True),
    Pattern("slurm_preempt", C.SCHEDULER, IN,
            r"DUE TO PREEMPTION|PREEMPTED|JOB REQUEUE|[Rr]equeued|DUE TO .{0,20}REQUEUE",
            "slurmstepd: error: *** JOB 1342 ON node-4 CANCELLED AT 2024-03-01T02:11:09 DUE TO "
            "PREEMPTION ***", kind="preemption", tier=0, confidence=0.9),
    Pattern("slurm_cancel", C.SCHEDULER, IN, r"\*\*\* JOB \d{1,12} ON \S{1,80} CANCELLED AT",
            "slurmstepd: error: *** JOB 77123 ON node-2 CANCELLED AT 2024-02-01T10:11:12 ***",
            kind="cancelled", tier=0, confidence=0.8),
    Pattern("slurm_step_cancel", C.SCHEDULER, K,
            r"\*\*\* STEP \d{1,12}[.\d]{0,12} ON \S{1,80} CANCELLED AT|task \d{1,6}: (?:Killed|"
            r"Terminated)|srun: error: .{0,80}(?:Killed|terminated)",
            "srun: error: node-5: task 17: Killed", kind="killed", tier=2, confidence=0.4),
    # ---- host symptoms that are not definite -------------------------------------------------
    Pattern("worker_killed", C.HOST, IN,
            r"DataLoader worker \(pid.{0,40}\) (?:is killed by signal|exited unexpectedly)",
            "RuntimeError: DataLoader worker (pid 41234) is killed by signal: Killed.",
            kind="killed", tier=1, confidence=0.5),
    # ---- unknown: weak initiating signatures (culprit ranks only) ----------------------------
    Pattern("segfault", C.UNKNOWN, IN, r"Segmentation fault|SIGSEGV|segfault",
            "Fatal Python error: Segmentation fault", tier=2, confidence=0.4),
    Pattern("cuda_other", C.UNKNOWN, IN, r"CUDA error: |CUDNN_STATUS_\w{1,30}|CUBLAS_STATUS_\w{1,30}",
            "RuntimeError: CUDA error: invalid argument", tier=2, confidence=0.35),
    # a launcher's or SDK's report that the job failed, with no error of its own in the line
    # (a specific one, OOM or NaN in its `Reason:`, matched above): a consequence
    Pattern("job_failed", C.UNKNOWN, K,
            r"UnexpectedStatusException: Error for Training job|TrainingFailedError: The Ray "
            r"Train run failed",
            "UnexpectedStatusException: Error for Training job llama-dp-2024: Failed. Reason: "
            "AlgorithmError: ExecuteUserScriptError", tier=2, confidence=0.3),
    Pattern("py_other_exc", C.UNKNOWN, IN, EXC + r"[A-Z]\w{0,60}(?:Error|Exception)\b(?::|$)",
            "RuntimeError: something unexpected happened in the data pipeline", tier=2,
            confidence=0.3),
)

# A bare `AssertionError` whose traceback shows, on the line above, an `assert` of finiteness
# (mmengine's CheckInvalidLossHook: `assert torch.isfinite(outputs['loss']), \`) is a NaN/Inf
# loss, not the code's assertion: `CycleState` swaps `py_user_exc` for this one then.
FINITE_ASSERT = Pattern("finite_assert", C.NUMERICAL, IN, r"^AssertionError\b",
                        "AssertionError: None", confidence=0.8)
_ASSERTS_FINITE = re.compile(rb"\bassert\b.{0,120}\b(?:isfinite|isnan|isinf)\(")


PATTERNS_BY_ID: dict[str, Pattern] = {p.id: p for p in PATTERNS}


_RAY_NODE = re.compile(r"^Memory on the node \(IP: (\d{1,3}(?:\.\d{1,3}){3}),")


def ray_node_ip(content: str) -> str | None:
    """The node IP of Ray's memory-monitor line (`Memory on the node (IP: 10.0.44.19, ...`)."""
    m = _RAY_NODE.match(content) if content.startswith("Memory on") else None
    return m.group(1) if m else None


def asserts_finite(before: bytes) -> bool:
    """Whether the last line of `before` (the input above a line) asserts a finite value."""
    last = before.rstrip(b"\r\n").rsplit(b"\n", 1)[-1][-400:]
    return bool(_ASSERTS_FINITE.search(last))


"""The labelled cases. Each function writes one or more logs with their expected verdicts."""

from __future__ import annotations

from corpus_blocks import (
    PY,
    TRAIN_FRAMES,
    elastic_summary,
    interleave,
    megatron_iters,
    nccl_init,
    torchrun_banner,
    traceback,
    user_warning,
    watchdog,
    write,
)

# ATTRIBUTION.md: "a Python exception on every rank with the same traceback is the code's"
EVERY_RANK = "the same error on every rank: the job's, no rank or node to blame"
OOM = ("torch.OutOfMemoryError: CUDA out of memory. Tried to allocate 3.50 GiB. GPU {g} has a total "
       "capacity of 79.11 GiB of which 1.02 GiB is free. Process {pid} has 78.08 GiB memory in use. Of "
       "the allocated memory 74.21 GiB is allocated by PyTorch, and 2.87 GiB is reserved by PyTorch but "
       "unallocated. If reserved but unallocated memory is large try setting "
       "PYTORCH_CUDA_ALLOC_CONF=expandable_segments:True to avoid fragmentation.  See documentation for "
       "Memory Management  (https://pytorch.org/docs/stable/notes/cuda.html#environment-variables)")


def _job(nranks: int = 8, host: str = "node-01") -> list[str]:
    return torchrun_banner() + nccl_init(host, range(nranks), nranks) + [user_warning(0)]


def _root(rank: int, code: int, pid: int, host: str = "node-01", sig: str = "SIGABRT",
          time: str = "2024-10-21_08:46:01") -> dict[str, object]:
    return {"rank": rank, "local": rank % 8, "exitcode": code, "pid": pid, "host": host, "sig": sig,
            "time": time}


def cuda_oom_cases() -> None:
    # red herring: rank 3 OOMs, every other rank reports the NCCL watchdog timeout
    others = [watchdog(r) for r in range(8) if r != 3]
    oom = traceback(3, TRAIN_FRAMES, OOM.format(g=3, pid=40214))
    lines = _job() + megatron_iters(100, 12) + interleave(oom, *others, seed=3)
    lines += elastic_summary("pretrain_gpt.py", _root(3, 1, 40214, time="2024-10-21_08:35:02"),
                             [_root(0, -6, 40211, time="2024-10-21_08:45:13")])
    write("oom_red_herring_watchdog.log", lines, "STOP", "cuda_oom", [3], ["node-01"],
          "healthy ranks' watchdog timeouts are consequences of rank 3's OOM")
    # single-process bug report excerpt, no rank prefix
    frames = [("/home/user/finetune.py", 88, "<module>", "trainer.train()"),
              (f"{PY}/transformers/trainer.py", 1938, "train", "return inner_training_loop("),
              (f"{PY}/transformers/trainer.py", 2279, "_inner_training_loop", "tr_loss_step = self.training_step(model, inputs)"),
              (f"{PY}/torch/_tensor.py", 581, "backward", "torch.autograd.backward(")]
    lines = ["{'loss': 1.8123, 'grad_norm': 0.913, 'learning_rate': 4.8e-05, 'epoch': 0.04}",
             "  4%|▍         | 40/1000 [01:12<28:51,  1.80s/it]"]
    lines += traceback(None, frames, "torch.cuda.OutOfMemoryError: CUDA out of memory. Tried to allocate 1.96 GiB (GPU 0; 23.65 GiB total capacity; 20.12 GiB already allocated; 1.13 GiB free; 21.73 GiB reserved in total by PyTorch) If reserved memory is >> allocated memory try setting max_split_size_mb to avoid fragmentation.  See documentation for Memory Management and PYTORCH_CUDA_ALLOC_CONF")
    write("oom_hf_trainer_single_gpu.log", lines, "STOP", "cuda_oom", [])
    # srun -l, old-style RuntimeError OOM on every rank at the first step
    lines = []
    for r in range(4):
        lines += [f"{r}: Rank {r} initialised, world size 4", f"{r}: building model with 13B parameters"]
    for r in range(4):
        lines += [f"{r}: " + x for x in traceback(None, TRAIN_FRAMES[:3],
                  "RuntimeError: CUDA out of memory. Tried to allocate 512.00 MiB (GPU 0; 39.59 GiB total capacity; 38.01 GiB already allocated; 311.19 MiB free; 38.51 GiB reserved in total by PyTorch)")]
    lines += ["srun: error: gpu-a100-07: tasks 0-3: Exited with exit code 1"]
    write("oom_srun_all_ranks.log", lines, "STOP", "cuda_oom", [], [],
          note=EVERY_RANK)
    # deepspeed: OOM inside NCCL init reported as unhandled cuda error
    lines = [f"[2024-06-02 11:20:{s:02d},101] [INFO] [comm.py:637:init_distributed] cdb=None" for s in range(3)]
    lines += ["[rank1]: torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/NCCLUtils.hpp:275, unhandled cuda error (run with NCCL_DEBUG=INFO for details), NCCL version 2.19.3",
              "[rank1]: ncclUnhandledCudaError: Call to CUDA function failed.", "[rank1]: Last error:",
              "[rank1]: Cuda failure 'out of memory'",
              "[2024-06-02 11:20:41,552] [ERROR] [launch.py:321:sigkill_handler] ['/usr/bin/python3', '-u', 'train.py', '--local_rank=1', '--deepspeed', 'ds_config.json'] exits with return code = 1"]
    write("oom_deepspeed_nccl_init.log", lines, "STOP", "cuda_oom", [1])
    # truncated log: the file stops right after the OOM line of rank 5
    oom5 = traceback(5, TRAIN_FRAMES, OOM.format(g=5, pid=40216))
    lines = _job() + megatron_iters(2000, 20) + oom5 + watchdog(2)[:2]
    write("oom_truncated_mid_teardown.log", lines, "STOP", "cuda_oom", [5], truncate=None)


def user_code_cases() -> None:
    tb = [(traceback(r, [("/workspace/train.py", 3, "<module>", "from flash_attn import flash_attn_func")],
                     "ModuleNotFoundError: No module named 'flash_attn'")) for r in range(4)]
    lines = torchrun_banner() + interleave(*tb, seed=1)
    lines += elastic_summary("train.py", _root(0, 1, 5521), [_root(r, 1, 5521 + r) for r in (1, 2, 3)])
    write("user_import_error_all_ranks.log", lines, "STOP", "user_code", [], [],
          note=EVERY_RANK)
    ds = [("/workspace/data.py", 57, "__getitem__", "ids = sample['input_ids']")]
    lines = _job(2) + megatron_iters(0, 3, rank=1)
    lines += traceback(1, TRAIN_FRAMES[:2] + ds, "KeyError: 'input_ids'") + watchdog(0)[:3]
    write("user_keyerror_dataset.log", lines, "STOP", "user_code", [1])
    lines = _job(4) + interleave(*[traceback(r, TRAIN_FRAMES, "RuntimeError: mat1 and mat2 shapes cannot be multiplied (8192x4096 and 5120x4096)") for r in range(4)], seed=2)
    write("user_shape_mismatch.log", lines, "STOP", "user_code", [], [],
          note=EVERY_RANK)
    asrt = [f"[rank2]:../aten/src/ATen/native/cuda/Loss.cu:250: nll_loss_forward_reduce_cuda_kernel_2d: block: [0,0,0], thread: [{t},0,0] Assertion `t >= 0 && t < n_classes` failed." for t in range(3)]
    lines = _job(4) + asrt + traceback(2, TRAIN_FRAMES, "RuntimeError: CUDA error: device-side assert triggered")
    lines += ["[rank2]:CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be incorrect.",
              "[rank2]:For debugging consider passing CUDA_LAUNCH_BLOCKING=1", "[rank2]:Compile with `TORCH_USE_CUDA_DSA` to enable device-side assertions."]
    lines += watchdog(0)[:1] + watchdog(1)[:1] + watchdog(3)[:1]
    write("user_device_assert.log", lines, "STOP", "user_code", [2])
    msg = ("RuntimeError: Expected to have finished reduction in the prior iteration before starting a new one. "
           "This error indicates that your module has parameters that were not used in producing loss. You can "
           "enable unused parameter detection by passing the keyword argument `find_unused_parameters=True` to "
           "`torch.nn.parallel.DistributedDataParallel`.")
    lines = _job(2) + interleave(traceback(0, TRAIN_FRAMES, msg), traceback(1, TRAIN_FRAMES, msg), seed=4)
    write("user_ddp_unused_params.log", lines, "STOP", "user_code", [], [],
          note=EVERY_RANK)
    lines = ["usage: train.py [-h] [--lr LR] [--epochs EPOCHS] [--batch-size BATCH_SIZE]",
             "train.py: error: unrecognized arguments: --warmup-steps 500"] * 2
    lines += elastic_summary("train.py", _root(0, 2, 812), [_root(1, 2, 813)])
    write("user_argparse.log", lines, "STOP", "user_code", None)
    lines = _job(2) + traceback(0, [("/workspace/train.py", 140, "load_ckpt", "state = torch.load(args.resume)")],
                                "FileNotFoundError: [Errno 2] No such file or directory: '/checkpoints/run7/step_40000.pt'")
    write("user_missing_checkpoint_path.log", lines, "STOP", "user_code", [0])
    lines = traceback(None, [("eval.py", 31, "<module>", "model.load_state_dict(torch.load(path))")],
                      "_pickle.UnpicklingError: Weights only load failed. This file can still be loaded, to do so you have two options, do those steps only if you trust the source of the checkpoint. (1) Re-running `torch.load` with `weights_only` set to `False` will likely succeed, but it can result in arbitrary code execution.")
    write("user_weights_only_load.log", lines, "STOP", "user_code", [])
    lines = _job(2) + traceback(1, TRAIN_FRAMES, "RuntimeError: CUDA error: an illegal memory access was encountered")
    lines += traceback(0, TRAIN_FRAMES, "RuntimeError: CUDA error: an illegal memory access was encountered")
    write("user_illegal_access_every_rank.log", lines, "STOP", "user_code", [], [],
          note=EVERY_RANK)


def hardware_cases() -> None:
    lines = _job() + megatron_iters(5000, 10)
    lines += ["[rank6]: " + x for x in ["Traceback (most recent call last):", "RuntimeError: CUDA error: unknown error",
                                       "CUDA kernel errors might be asynchronously reported at some other API call, so the stacktrace below might be incorrect."]]
    lines += interleave(*[watchdog(r, 52) for r in (0, 1, 2)], seed=5)
    lines += ["---- dmesg (node-01) ----",
              "Oct 21 08:41:55 node-01 kernel: NVRM: GPU at PCI:0000:b7:00: GPU-3f2a1c4e-9d1b-7a52-8c33-0e4f1d2a9b61",
              "Oct 21 08:41:55 node-01 kernel: NVRM: Xid (PCI:0000:b7:00): 79, pid=40217, name=python3, GPU has fallen off the bus.",
              "Oct 21 08:41:55 node-01 kernel: NVRM: GPU 0000:b7:00.0: GPU has fallen off the bus."]
    write("gpu_xid79_fallen_off_bus.log", lines, "RESTART", "gpu_hardware", None, ["node-01"])
    lines = _job(8, "gpu-h100-031") + megatron_iters(12000, 5)
    lines += traceback(4, TRAIN_FRAMES, "RuntimeError: CUDA error: uncorrectable ECC error encountered")
    lines += interleave(*[watchdog(r) for r in (0, 1, 2, 3, 5, 6, 7)], seed=6)
    write("gpu_ecc_uncorrectable.log", lines, "RESTART", "gpu_hardware", [4])
    lines = ["[Mon Oct 21 09:02:11 2024] NVRM: Xid (PCI:0000:3b:00): 48, pid=22871, name=python, An uncorrectable double bit error (DBE) has been detected on GPU in the framebuffer at partition 2, subpartition 0.",
             "[Mon Oct 21 09:02:11 2024] NVRM: Xid (PCI:0000:3b:00): 45, pid=22871, name=python, Ch 00000008",
             "[Mon Oct 21 09:02:12 2024] NVRM: Xid (PCI:0000:3b:00): 13, Graphics Exception: ESR 0x405840=0x0"]
    write("gpu_xid48_dbe_dmesg.log", lines, "RESTART", "gpu_hardware", [])
    lines = _job(8, "dgx-a100-12") + megatron_iters(300, 4)
    lines += ["Oct 21 08:44:02 dgx-a100-12 kernel: NVRM: Xid (PCI:0000:07:00): 74, pid=3312, name=python3, NVLink: fatal error detected on link 4(0x0, 0x0, 0x10000, 0x0, 0x0, 0x0, 0x0)"]
    lines += [f"[rank{r}]:dgx-a100-12:{3311 + r}:{3390 + r} [{r}] NCCL WARN Cuda failure 'unspecified launch failure'" for r in (0, 1)]
    lines += interleave(*[watchdog(r) for r in range(2, 8)], seed=7)
    write("gpu_nvlink_xid74.log", lines, "RESTART", "gpu_hardware", None, ["dgx-a100-12"])


def network_cases() -> None:
    ib = ("NCCL WARN NET/IB : Got completion from peer 10.1.0.{p}<{port}> with status=12 opcode=0 len=0 "
          "vendor err 129 (Recv) localGid ::ffff:10.1.0.{me} remoteGids::ffff:10.1.0.{p} hca mlx5_{d}")
    lines = _job(16, "node-03")[:20]
    for r in range(8, 16):
        lines.append(f"[rank{r}]:node-03:{9000 + r}:{9100 + r} [{r - 8}] transport/net_ib.cc:1696 " + ib.format(p=14, port=51334 + r, me=13, d=r % 4))
        lines.append(f"[rank{r}]:node-03:{9000 + r}:{9100 + r} [{r - 8}] NCCL INFO transport/net.cc:1298 -> 6")
    lines += [f"[rank{r}]: torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1970, remote process exited or there was a network error, NCCL version 2.20.5" for r in range(8, 12)]
    write("network_ib_completion_error.log", lines, "RESTART", "network", [])
    lines = _job(8, "node-07")[:12]
    lines += ["[rank3]:node-07:2231:2298 [3] NCCL WARN NET/IB : mlx5_2:1 Got async event : local catastrophic error",
              "[rank3]:node-07:2231:2298 [3] NCCL WARN NET/IB : mlx5_2:1 Got async event : port error",
              "Oct 21 08:30:01 node-07 kernel: mlx5_core 0000:5e:00.0: mlx5_port_module_event: Port module event[error]: module 2, Cable error, Bad cable"]
    lines += interleave(*[watchdog(r) for r in range(8) if r != 3], seed=8)
    write("network_ib_catastrophic.log", lines, "RESTART", "network", [3], ["node-07"])
    lines = ["[rank0]: Traceback (most recent call last):",
             '[rank0]:   File "/workspace/train.py", line 40, in <module>', "[rank0]:     dist.barrier()",
             "[rank0]: torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1691, unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.18.1",
             "[rank0]: ncclSystemError: System call (e.g. socket, malloc) or external library call failed or device error. ",
             "[rank0]: Last error:", "[rank0]: socketStartConnect: Connect to 10.2.3.4<44179> failed : Software caused connection abort"]
    write("network_nccl_system_error.log", lines, "RESTART", "network", None)
    lines = megatron_iters(800, 3, rank=0)
    lines += ["[rank1]: ConnectionResetError: [Errno 104] Connection reset by peer",
              "[rank2]: RuntimeError: [2] is setting up NCCL communicator and retrieving ncclUniqueId from [0] via c10d key-value store by key '0:1', but store->get('0:1') got error: Connection reset by peer"]
    write("network_connection_reset.log", lines, "RESTART", "network", None)


def host_cases() -> None:
    lines = _job(4) + megatron_iters(100, 3, rank=3)
    lines += ["[rank2]: RuntimeError: DataLoader worker (pid 51877) is killed by signal: Killed. ",
              "Oct 21 08:40:07 node-01 kernel: python3 invoked oom-killer: gfp_mask=0x140cca(GFP_HIGHUSER_MOVABLE|__GFP_COMP), order=0, oom_score_adj=0",
              "Oct 21 08:40:07 node-01 kernel: Out of memory: Killed process 51877 (pt_data_worker) total-vm:91236548kB, anon-rss:61234156kB, file-rss:0kB, shmem-rss:0kB, UID:1000 pgtables:123456kB oom_score_adj:0"]
    write("host_kernel_oom_killer.log", lines, "STOP", "host", None, ["node-01"])
    lines = [f"{r}: step 1{r}0 | loss 2.31" for r in range(2)] + [
        "slurmstepd: error: Detected 1 oom-kill event(s) in StepId=4242.0. Some of your processes may have been killed by the cgroup out-of-memory handler.",
        "srun: error: gpu-st-p4d-24xlarge-17: task 1: Out Of Memory"]
    write("host_slurm_cgroup_oom.log", lines, "STOP", "host", None)
    lines = [*_job(2), "[rank1]:ERROR: Unexpected bus error encountered in worker. This might be caused by insufficient shared memory (shm).", *traceback(1, TRAIN_FRAMES[:2], "RuntimeError: DataLoader worker (pid 4410) is killed by signal: Bus error. It is possible that dataloader's workers are out of shared memory. Please try to raise your shared memory limit.")]
    # a DataLoader worker's SIGBUS is /dev/shm exhausted by the job (4 blind labellers: STOP)
    write("host_dataloader_bus_error.log", lines, "STOP", "host", [1])
    lines = _job(8, "node-12") + megatron_iters(700, 3)
    lines += traceback(5, [("/workspace/data/indexed_dataset.py", 211, "__getitem__", "np_array = np.frombuffer(self._bin_buffer, ...)")],
                       "OSError: [Errno 5] Input/output error")
    lines += interleave(*[watchdog(r) for r in (0, 1, 2, 3, 4, 6, 7)], seed=9)
    write("host_eio_one_node.log", lines, "RESTART", "host", [5])
    lines = [*_job(8)[:14], "[rank4]:node-01:40215:40290 [4] NCCL WARN Error: failed to extend /dev/shm/nccl-Ug1n2Q to 9637892 bytes", "[rank4]:node-01:40215:40290 [4] NCCL WARN Error while creating shared memory segment /dev/shm/nccl-Ug1n2Q (size 9637888)", "[rank4]: torch.distributed.DistBackendError: NCCL error in: ../torch/csrc/distributed/c10d/ProcessGroupNCCL.cpp:1970, unhandled system error (run with NCCL_DEBUG=INFO for details), NCCL version 2.20.5"]
    write("host_dev_shm_full_nccl.log", lines, "STOP", "host", [4])


def numerical_cases() -> None:
    lines = [f"Epoch: [3]  [{i:4d}/5004]  eta: 1:02:11  lr: 0.000999  loss: {6.2 - i / 1000:.4f} (6.5012)  time: 0.7012  data: 0.0012  max mem: 15123" for i in range(0, 400, 100)]
    lines += ["Loss is nan, stopping training", "{'loss': nan, 'lr': 0.000999}"]
    lines += elastic_summary("main.py", _root(0, 1, 7712), [_root(r, 1, 7712 + r) for r in (1, 2, 3)])
    write("numerical_loss_nan_timm.log", lines, "STOP", "numerical", None)
    lines = ["2024-03-02 10:11:12 | INFO | train_inner | epoch 001:    812 / 5214 loss=9.123, nll_loss=8.456, ppl=351.2, wps=18765, ups=2.1, wpb=8912, bsz=256, num_updates=812, lr=0.000203, gnorm=1.889, loss_scale=0.0001, train_wall=48, gb_free=10.1, wall=402"]
    lines += traceback(None, [(f"{PY}/fairseq/trainer.py", 1031, "train_step", "raise FloatingPointError(")],
                       "FloatingPointError: Minimum loss scale reached (0.0001). Your loss is probably exploding. Try lowering the learning rate, using gradient clipping or increasing the batch size.")
    write("numerical_fairseq_min_loss_scale.log", lines, "STOP", "numerical", [])
    lines = _job(2) + megatron_iters(100, 3, rank=1)
    lines += traceback(0, [("/workspace/train.py", 301, "train_step", "raise RuntimeError(f'loss is {loss}')")],
                       "RuntimeError: Rank 0: found NaN in local grad norm in backward pass before data-parallel communication collective. Device: 0, node: node-01")
    lines += ["[rank0]: ValueError: Loss is NaN at iteration 130, aborting"]
    write("numerical_megatron_nan_grad.log", lines, "STOP", "numerical", [0])


def rendezvous_cases() -> None:
    lines = ["[2024-10-21 08:00:00,001] torch.distributed.run: [WARNING] master_addr is only used for static rdzv_backend and when rdzv_endpoint is not specified."]
    lines += traceback(None, [(f"{PY}/torch/distributed/rendezvous.py", 189, "_create_c10d_store", "return TCPStore(")],
                       "torch.distributed.DistStoreError: Timed out after 901 seconds waiting for clients. 1/2 clients joined.")
    write("rendezvous_store_timeout.log", lines, "RESTART", "rendezvous", None)
    lines = traceback(None, [(f"{PY}/torch/distributed/elastic/rendezvous/c10d_rendezvous_backend.py", 156, "_create_tcp_store", "store = TCPStore(")],
                      "RuntimeError: The server socket has failed to listen on any local network address. port: 29500, useIpv6: 0, code: -98, name: EADDRINUSE, message: address already in use")
    lines += ["The above exception was the direct cause of the following exception:",
              "torch.distributed.elastic.rendezvous.api.RendezvousConnectionError: The connection to the C10d store has failed. See inner exception for details."]
    write("rendezvous_eaddrinuse.log", lines, "RESTART", "rendezvous", None)
    lines = ["[2024-05-09 03:12:44,231] torch.distributed.elastic.agent.server.api: [INFO] [default] starting workers for entrypoint: python3",
             "[2024-05-09 03:12:44,232] torch.distributed.elastic.agent.server.api: [INFO] [default] Rendezvous'ing worker group"]
    lines += traceback(None, [(f"{PY}/torch/distributed/elastic/rendezvous/dynamic_rendezvous.py", 1109, "next_rendezvous", "self._op_executor.run(join_op, deadline)")],
                       "torch.distributed.elastic.rendezvous.api.RendezvousTimeoutError: ")
    write("rendezvous_dynamic_timeout.log", lines, "RESTART", "rendezvous", None)


def storage_cases() -> None:
    lines = _job(2) + traceback(0, [("/workspace/train.py", 98, "resume", "sd = torch.load(ckpt, map_location='cpu')")],
                                "RuntimeError: PytorchStreamReader failed reading zip archive: failed finding central directory")
    lines += traceback(1, [("/workspace/train.py", 98, "resume", "sd = torch.load(ckpt, map_location='cpu')")],
                       "RuntimeError: PytorchStreamReader failed reading zip archive: failed finding central directory")
    write("storage_corrupt_checkpoint.log", lines, "RESTART", "storage", [], [],
          note=EVERY_RANK)
    lines = [*megatron_iters(4990, 2, rank=0), "[rank0]: saving checkpoint at iteration    5000 to /lustre/ckpt/gpt-13b"]
    lines += traceback(0, [(f"{PY}/torch/serialization.py", 652, "save", "_save(obj, opened_zipfile, pickle_module, pickle_protocol, _disable_byteorder_record)")],
                       "RuntimeError: [enforce fail at inline_container.cc:764] . PytorchStreamWriter failed writing file data/127: file write failed")
    lines += ["[rank0]: OSError: [Errno 28] No space left on device"]
    write("storage_no_space_on_save.log", lines, "STOP", "storage", [0])
    lines = traceback(None, [("save.py", 12, "dump", "f.write(buf)")], "OSError: [Errno 122] Disk quota exceeded")
    write("storage_disk_quota.log", lines, "STOP", "storage", [])
    lines = _job(4) + megatron_iters(300, 2) + traceback(2, [("/workspace/data.py", 20, "load", "with open(p, 'rb') as f:")],
                                                          "OSError: [Errno 116] Stale file handle: '/nfs/datasets/pile/shard_00017.bin'")
    write("storage_stale_nfs_handle.log", lines, "RESTART", "storage", [2])


def hang_cases() -> None:
    lines = _job() + megatron_iters(900, 6) + interleave(*[watchdog(r, 55) for r in range(8)], seed=10)
    lines += elastic_summary("pretrain_gpt.py", _root(0, -6, 40211), [_root(r, -6, 40211 + r) for r in range(1, 8)])
    write("hang_all_ranks_watchdog.log", lines, "RESTART", "hang", [])
    lines = [f"[rank{r}]:[E{'1021 09:12:00.000001'} ProcessGroupNCCL.cpp:1423] [PG 0 (default_pg) Rank {r}] Heartbeat monitor timed out! Process will be terminated after dumping debug info. workMetaList_.size()=1" for r in range(4)]
    lines += [f"[rank{r}]:[E1021 09:12:00.000002 ProcessGroupNCCL.cpp:1265] [PG 0 (default_pg) Rank {r}] ProcessGroupNCCL's watchdog got stuck for 480 seconds without making progress in monitoring enqueued collectives." for r in range(4)]
    write("hang_heartbeat_monitor.log", lines, "RESTART", "hang", [])
    lines = megatron_iters(100, 2, rank=0) + [f"{r}: [E ProcessGroupNCCL.cpp:475] [Rank {r}] Watchdog caught collective operation timeout: WorkNCCL(SeqNum=88, OpType=BROADCAST, Timeout(ms)=1800000) ran for 1800562 milliseconds before timing out." for r in range(16)]
    lines += [f"{r}: [E ProcessGroupNCCL.cpp:489] Some NCCL operations have failed or timed out. Due to the asynchronous nature of CUDA kernels, subsequent GPU operations might run on corrupted/incomplete data." for r in range(16)]
    write("hang_srun_broadcast_timeout.log", lines, "RESTART", "hang", [])


def scheduler_cases() -> None:
    lines = [*megatron_iters(40000, 4, rank=0), "slurmstepd: error: *** JOB 881234 ON gpu-st-p4d-24xlarge-17 CANCELLED AT 2024-05-02T11:00:12 DUE TO TIME LIMIT ***", "slurmstepd: error: *** STEP 881234.0 ON gpu-st-p4d-24xlarge-17 CANCELLED AT 2024-05-02T11:00:12 DUE TO TIME LIMIT ***", "[2024-05-02 11:00:12,441] torch.distributed.elastic.agent.server.api: [WARNING] Received Signals.SIGTERM death signal, shutting down workers", "[2024-05-02 11:00:12,442] torch.distributed.elastic.multiprocessing.api: [WARNING] Sending process 23011 closing signal SIGTERM", "torch.distributed.elastic.multiprocessing.api.SignalException: Process 22990 got signal: 15"]
    write("scheduler_time_limit.log", lines, "STOP", "scheduler", None)
    lines = [*megatron_iters(100, 3, rank=0), "srun: error: Node failure on gpu-node-113", "slurmstepd: error: *** JOB 5512 ON gpu-node-101 CANCELLED AT 2024-07-01T04:12:55 DUE TO NODE FAILURE, SEE SLURMCTLD LOG FOR DETAILS ***", "srun: Job step aborted: Waiting up to 32 seconds for job step to finish."]
    write("scheduler_node_failure.log", lines, "RESTART", "scheduler", None, ["gpu-node-113"])
    lines = ["slurmstepd: error: *** JOB 1342 ON node-4 CANCELLED AT 2024-03-01T02:11:09 DUE TO PREEMPTION ***",
             "[2024-03-01 02:11:09,001] torch.distributed.elastic.agent.server.api: [WARNING] Received Signals.SIGTERM death signal, shutting down workers"]
    write("scheduler_preemption.log", lines, "RESTART", "scheduler", None)


def unknown_cases() -> None:
    lines = _job(2) + megatron_iters(100, 3, rank=1) + ["[rank1]:Fatal Python error: Segmentation fault", "[rank1]:", "[rank1]:Thread 0x00007f3a2ffff700 (most recent call first):",
                                                        '[rank1]:  File "/usr/lib/python3.10/threading.py", line 320 in wait']
    lines += elastic_summary("train.py", _root(1, -11, 9912, sig="SIGSEGV"), [])
    write("unknown_segfault.log", lines, "RESTART", "unknown", [1])
    lines = _job(4) + megatron_iters(0, 30) + ["[rank7]: saving checkpoint at iteration     300 to /ckpt",
                                               "[rank7]:   successfully saved checkpoint at iteration     300 to /ckpt", "[rank0]: training finished, exiting"]
    write("clean_successful_run.log", lines, "RESTART", "unknown", [])
    write("clean_truncated_mid_training.log", _job(8) + megatron_iters(50, 40), "RESTART", "unknown", [],
          truncate=6000)
    lines = _job(8) + megatron_iters(10, 3)
    lines += elastic_summary("train.py", _root(6, -9, 40217, sig="SIGKILL"), [])
    write("unknown_sigkill_no_message.log", lines, "RESTART", "unknown", [6], ["node-01"])
    lines = _job(4) + traceback(2, TRAIN_FRAMES, "RuntimeError: CUDA error: an illegal memory access was encountered")
    lines += interleave(*[watchdog(r) for r in (0, 1, 3)], seed=11)
    write("unknown_illegal_access_one_rank.log", lines, "RESTART", "unknown", [2],
          note="not reproduced on every rank: not proven to be the code's")


def mixed_cases() -> None:
    # a caught, logged error early on; training went on for many steps; then a GPU falls off
    lines = [*_job(2), "[rank0]: FileNotFoundError: [Errno 2] No such file or directory: '/workspace/.cache/tokenizer.json' (falling back to download)"]
    lines += megatron_iters(10, 20, rank=1)
    lines += ["Oct 21 09:30:00 node-01 kernel: NVRM: Xid (PCI:0000:3b:00): 79, pid=40212, name=python3, GPU has fallen off the bus."]
    lines += watchdog(0, 59)[:2]
    write("mixed_stale_error_then_xid.log", lines, "RESTART", "gpu_hardware", None, ["node-01"])
    # several cycles of the same NCCL network failure with no progress: the repeat rule stops it
    ib = "[rank3]:node-02:77:90 [3] NCCL WARN NET/IB : Got completion from peer 10.1.0.{p}<4417{c}> with status=12 opcode=0 len=0 vendor err 129 (Recv)"
    lines = []
    for c in range(3):
        lines += [f"[resilience] cycle {c} started", *megatron_iters(1000, 2, rank=0)[:1], ib.format(p=20 + c, c=c)]
    write("multi_cycle_repeated_network.log", lines, "STOP", "network", [],
          note="third cycle: same root, no progress since the previous cycle -> repeat rule")
    # cycles with progress in between: each failure is new, keep restarting
    lines = []
    for c in range(3):
        lines += [f"Cycle: {c}", *megatron_iters(1000 + 500 * c, 2, rank=0), ib.format(p=20, c=c)]
    write("multi_cycle_with_progress.log", lines, "RESTART", "network", [])
    # rank-less user traceback after torchrun banner, mpirun tags
    lines = [f"[1,{r}]<stderr>:" + x for r in range(2) for x in traceback(None, TRAIN_FRAMES[:2], "TypeError: forward() got an unexpected keyword argument 'labels'")]
    write("user_typeerror_mpirun_tags.log", lines, "STOP", "user_code", [], [],
          note=EVERY_RANK)
    # preemption first, then ranks' cascading errors
    lines = [*megatron_iters(20, 2, rank=0), "slurmstepd: error: *** STEP 9981.0 ON node-2 CANCELLED AT 2024-04-01T10:00:00 DUE TO PREEMPTION ***"]
    lines += ["[rank0]: RuntimeError: NCCL communicator was aborted on rank 0.", "[rank1]: ConnectionResetError: [Errno 104] Connection reset by peer"]
    write("scheduler_preempt_then_cascade.log", lines, "RESTART", "scheduler", None)


def build_all() -> None:
    for case in (cuda_oom_cases, user_code_cases, hardware_cases, network_cases, host_cases,
                 numerical_cases, rendezvous_cases, storage_cases, hang_cases, scheduler_cases,
                 unknown_cases, mixed_cases):
        case()

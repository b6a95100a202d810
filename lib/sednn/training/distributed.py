"""Process helpers for multi-process training with DistributedDataParallel (one process per GPU, launched by
``torchrun``; the entry point is ``sednn.pipeline.launch``).

Run notebooks 01 and 02 first (manifest, photo cache, parser maps). Each process holds the cached data on its
device and trains on its part of every batch; gradients are averaged by DDP, so a step uses the same global
batch and augmentation as a single-process run. Validation and test predictions are computed in parts and
gathered, so every process sees the same validation score; only rank 0 writes checkpoints and predictions.
Notebooks 03-05 then find the finished checkpoints (same signature) and only predict and report.

BatchNorm: on CUDA the layers become SyncBatchNorm (statistics over the global batch, so results do not
depend on the number of GPUs). PyTorch has no SyncBatchNorm on CPU, so CPU processes normalise with their own
part of the batch and differ slightly from a single-process run.
"""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.distributed as dist


def world() -> tuple[int, int]:
    """(rank, world size); (0, 1) outside a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return world()[0] == 0


def barrier() -> None:
    if world()[1] > 1:
        dist.barrier()


def wants_cuda(device: str) -> bool:
    return device.startswith("cuda") or (device == "auto" and torch.cuda.is_available())


def default_process_count(device: str = "auto") -> int:
    """Processes per machine for ``make train-ddp``: one per visible GPU; on the CPU (no GPU, or ``device=cpu``) 2."""
    gpus = torch.cuda.device_count()
    return gpus if gpus and not device.startswith("cpu") else 2


def check_process_count(processes: int, device: str = "auto") -> None:
    """Refuse more CUDA processes on one machine than it has visible GPUs (rank N would ask for GPU N)."""
    gpus = torch.cuda.device_count()
    if wants_cuda(device) and processes > gpus:
        visible = f"CUDA_VISIBLE_DEVICES={os.environ.get('CUDA_VISIBLE_DEVICES', 'unset')}"
        raise SystemExit(f"asked for {processes} CUDA processes on this machine, one per GPU, but {gpus} GPU(s) are "
                         f"visible ({visible}): " + (f"use NPROC={gpus} or fewer" if gpus else "use DEVICE=cpu"))


def init_from_env(device: str = "auto") -> str:
    """Join the process group that ``torchrun`` describes in the environment; returns this process's device.

    NCCL and one GPU per process (LOCAL_RANK) on CUDA, gloo on CPU. Without torchrun's variables: no group."""
    want_cuda = wants_cuda(device)
    if "WORLD_SIZE" not in os.environ or dist.is_initialized():
        return device
    check_process_count(int(os.environ.get("LOCAL_WORLD_SIZE", os.environ["WORLD_SIZE"])), device)
    if want_cuda:
        torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", 0)))
    dist.init_process_group("nccl" if want_cuda else "gloo")
    return "cuda" if want_cuda else "cpu"


def shutdown() -> None:
    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def local_part(n: int) -> slice:
    """This process's contiguous rows of a global batch of ``n`` (equal parts; ``n`` must divide evenly)."""
    rank, size = world()
    if n % size:
        raise ValueError(f"global batch of {n} cannot be split evenly over {size} processes")
    k = n // size
    return slice(rank * k, (rank + 1) * k)


def mean_over_processes(value: float) -> float:
    size = world()[1]
    if size == 1:
        return value
    t = torch.tensor([value], dtype=torch.float64, device="cuda" if dist.get_backend() == "nccl" else "cpu")
    dist.all_reduce(t)
    return float(t.item()) / size


def sync_buffers(model: torch.nn.Module) -> None:
    """Copy rank 0's buffers (BatchNorm running statistics) to every process. Without SyncBatchNorm each
    process's last forward updated them with its own part of the batch; rank 0's are the ones saved."""
    if world()[1] > 1:
        for buffer in model.buffers():
            dist.broadcast(buffer, 0)


def gather_rows(part: np.ndarray) -> np.ndarray:
    """Concatenate every process's ``part`` in rank order (parts may differ in length)."""
    if world()[1] == 1:
        return part
    parts = [None] * world()[1]
    dist.all_gather_object(parts, part)
    return np.concatenate(parts)


def split_evenly(n: int) -> slice:
    """This process's contiguous share of ``n`` items for inference (sizes differ by at most one)."""
    rank, size = world()
    bounds = np.linspace(0, n, size + 1).round().astype(int)
    return slice(bounds[rank], bounds[rank + 1])

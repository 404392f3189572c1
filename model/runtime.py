"""Where a run executes: the process group under ``torchrun``, the device, seeded and saved RNG, mixed precision
and the data loaders.

Under ``torchrun`` (``WORLD_SIZE`` above 1) each process joins a DistributedDataParallel group (NCCL on CUDA,
gloo otherwise) and a loader shards the shuffled training set with a DistributedSampler; otherwise everything
is one process. Every epoch reseeds torch, numpy and Python's ``random`` from ``(seed, epoch)``, and the
shuffling generator too, so an epoch's numbers do not depend on the epochs run before it in this process.
"""

from __future__ import annotations

import contextlib
import os
import random
from dataclasses import dataclass
from typing import Mapping

import numpy as np
import torch
import torch.distributed as dist
from torch.utils.data import DataLoader, DistributedSampler

__all__ = ["Processes", "init_processes", "run_device", "default_device", "all_reduce_sum", "barrier",
           "close_processes", "epoch_seed", "seed_epoch", "rng_state", "set_rng_state", "autocast", "make_loader"]


@dataclass
class Processes:
    """This process's place in the run: ``rank`` of ``world_size`` processes, GPU ``local_rank`` on its node."""

    rank: int = 0
    world_size: int = 1
    local_rank: int = 0

    @property
    def main(self) -> bool:
        """Rank 0, the one process that validates and writes."""
        return self.rank == 0


def init_processes() -> Processes:
    """Join the ``torchrun`` process group (``WORLD_SIZE``, ``LOCAL_RANK``), or one process without it."""
    world_size = int(os.environ.get("WORLD_SIZE", "1"))
    if world_size <= 1:
        return Processes()
    if not dist.is_initialized():
        backend = "nccl" if torch.cuda.is_available() else "gloo"
        dist.init_process_group(backend=backend)
    local_rank = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local_rank)
    return Processes(rank=dist.get_rank(), world_size=dist.get_world_size(), local_rank=local_rank)


def run_device(processes: Processes, device: str | None) -> torch.device:
    """``device`` when given, else this process's GPU, else the CPU."""
    if device:
        return torch.device(device)
    if torch.cuda.is_available():
        return torch.device("cuda", processes.local_rank)
    return torch.device("cpu")


def default_device(device: str | None) -> torch.device:
    """``device`` when given, else CUDA when available, else the CPU (a single process that scores)."""
    return torch.device(device) if device else torch.device("cuda" if torch.cuda.is_available() else "cpu")


def all_reduce_sum(processes: Processes, values: list[float], device: torch.device) -> list[float]:
    """``values`` summed over every process (as they are with one process)."""
    if processes.world_size <= 1:
        return values
    totals = torch.tensor(values, dtype=torch.float64, device=device)
    dist.all_reduce(totals)
    return [float(total) for total in totals]


def barrier(processes: Processes) -> None:
    """Wait for every process (nothing to wait for with one)."""
    if processes.world_size > 1:
        dist.barrier()


def close_processes(processes: Processes) -> None:
    """Wait for every process, then leave the process group."""
    if processes.world_size > 1:
        dist.barrier()
        dist.destroy_process_group()


def epoch_seed(seed: int, epoch: int) -> int:
    """The seed of epoch ``epoch`` of a run seeded ``seed``."""
    return seed * 100_003 + epoch


def seed_epoch(seed: int, epoch: int) -> None:
    """Seed torch, numpy and Python's ``random`` for one epoch."""
    value = epoch_seed(seed, epoch)
    torch.manual_seed(value)
    np.random.seed(value % 2**32)
    random.seed(value)


def rng_state() -> dict:
    """Every generator's state, for a checkpoint: torch (and CUDA's), numpy, Python's ``random``."""
    state = {"torch": torch.get_rng_state(), "numpy": np.random.get_state(), "python": random.getstate()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: Mapping) -> None:
    """Restore what :func:`rng_state` saved (CUDA's only where CUDA is available)."""
    torch.set_rng_state(state["torch"])
    np.random.set_state(state["numpy"])
    random.setstate(state["python"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def autocast(device: torch.device, amp: str):
    """The mixed-precision context of ``amp`` (``none``, ``bf16``, ``fp16``) on ``device``."""
    if amp == "none":
        return contextlib.nullcontext()
    dtype = torch.bfloat16 if amp == "bf16" else torch.float16
    return torch.autocast(device_type=device.type, dtype=dtype)


def make_loader(dataset, batch_size: int, shuffle: bool, workers: int, seed: int, epoch: int, processes: Processes,
                device: torch.device, drop_last: bool = False) -> DataLoader:
    """A loader over ``dataset``; shuffled ones follow ``(seed, epoch)`` and, under ``torchrun``, give each
    process its shard."""
    generator = torch.Generator().manual_seed(epoch_seed(seed, epoch))
    sampler = None
    if shuffle and processes.world_size > 1:
        sampler = DistributedSampler(dataset, num_replicas=processes.world_size, rank=processes.rank,
                                     shuffle=True, seed=seed, drop_last=drop_last)
        sampler.set_epoch(epoch)
    return DataLoader(dataset, batch_size=batch_size, shuffle=shuffle and sampler is None, sampler=sampler,
                      num_workers=workers, generator=generator, drop_last=drop_last,
                      pin_memory=device.type == "cuda", persistent_workers=False)

"""Several processes, one run: several GPUs (or CPU processes, gloo) through Hugging Face
Accelerate, with PyTorch's DistributedDataParallel underneath.

Started by ``accelerate launch`` or ``torchrun`` (which set ``WORLD_SIZE``), the same entry point
(``python -m svl_lib.experiments.run``) trains one run with ``W`` processes:

* ``batch_size`` stays the *global* batch: every process draws the same batches (same seed) and
  takes its own contiguous shard of ``batch_size / W`` items;
* the contrastive losses see the global batch: :func:`gather` collects every process's features
  (``torch.distributed.nn.functional.all_gather``, which passes gradients back to the process that
  computed them), so negatives span all ``batch_size`` items. Each process's loss is the global
  loss; all-gather's backward sums the gradients of the ``W`` identical losses and DDP averages
  them, which gives exactly the single-process gradient of the global batch;
* only the main process (rank 0) writes the run folder; all processes read the same checkpoint
  when resuming;
* the command line's run (``python -m svl_lib.experiments.run``) destroys the group at its end (:func:`leave`).

Models with batch normalisation (the toy CNN, ResNets) normalise over each process's shard, as DDP
does without ``SyncBatchNorm``; models with layer norm only (CLIP) match a single process exactly
up to floating-point summation order.
"""
from __future__ import annotations

import os

import torch
import torch.distributed as dist


def launched() -> bool:
    """Whether this process was started by a launcher with more than one process."""
    return int(os.environ.get("WORLD_SIZE", "1")) > 1


def setup(cpu: bool = False) -> torch.device:
    """Join the launcher's process group (Accelerate picks NCCL on GPUs, gloo on CPUs) and
    return this process's device."""
    from accelerate import PartialState
    return PartialState(cpu=cpu).device


def leave() -> None:
    """At the end of a process's work: destroy the process group :func:`setup` joined (NCCL's
    communicators freed, gloo's threads joined) and clear Accelerate's record of it; nothing
    without a group. Runs in one process share its group until then: a group made again under the
    same launcher could read the keys the first one left in the launcher's store."""
    if not (dist.is_available() and dist.is_initialized()):
        return
    from accelerate import PartialState
    dist.destroy_process_group()
    PartialState._reset_state()  # Accelerate's own reset: its state would still say "joined"


def rank_and_world() -> tuple[int, int]:
    """``(rank, world size)``: ``(0, 1)`` without a process group."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main() -> bool:
    return rank_and_world()[0] == 0


def barrier() -> None:
    """Wait for every process (nothing in a single process)."""
    if rank_and_world()[1] > 1:
        dist.barrier()


def gather(tensor: torch.Tensor) -> torch.Tensor:
    """Every process's ``tensor`` concatenated in rank order along dim 0, with gradients flowing
    back to each process's own rows; ``tensor`` itself in a single process."""
    if rank_and_world()[1] == 1:
        return tensor
    from torch.distributed.nn.functional import all_gather
    return torch.cat(all_gather(tensor), dim=0)


def mean_over_processes(value: torch.Tensor) -> torch.Tensor:
    """The mean of a scalar tensor over all processes (its value in a single process) as a 0-dim
    float64 tensor on the tensor's own device, with no host sync: pass one computed on the model's
    device, the device the process group's backend takes (NCCL takes GPU tensors only)."""
    total = value.detach().reshape(()).to(torch.float64, copy=True)  # the caller's tensor is kept
    world = rank_and_world()[1]
    if world == 1:
        return total
    dist.all_reduce(total)
    return total / world


def shard(batches: list[list[int]], rank: int, world: int) -> list[list[int]]:
    """This process's contiguous part of every global batch."""
    size = len(batches[0]) if batches else 0
    if size % world:
        raise ValueError(f"batch_size={size} must be divisible by the {world} processes")
    part = size // world
    return [b[rank * part:(rank + 1) * part] for b in batches]

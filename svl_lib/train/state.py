"""A run's training state on disk (``train_state.pt``): model, objective, optimiser, scheduler,
the epoch generator, the step and torch's RNG states, saved atomically with the state before it
kept as ``train_state.prev.pt``, so a truncated newest file falls back to the previous one."""
from __future__ import annotations

import os
from pathlib import Path

import torch

from ..files import save_torch


def previous_state(path: Path) -> Path:
    """Where the state before the newest is kept (``train_state.prev.pt``)."""
    return path.with_suffix(".prev.pt")


def save_train_state(path: Path, **state: object) -> None:
    """Save a training state atomically, with the RNG states of torch: the CPU's and, when there
    is one, the current CUDA device's (the device this process trains on; not every visible GPU,
    so that a state saved on 8 GPUs resumes on one, and the other way); the state it replaces is
    kept as :func:`previous_state`."""
    rng = {"torch_rng": torch.get_rng_state()}
    if torch.cuda.is_available():
        rng["cuda_rng"] = torch.cuda.get_rng_state()
    if path.is_file():
        os.replace(path, previous_state(path))
    save_torch(path, {**state, **rng})


def load_train_state(path: Path) -> dict:
    """A state saved by :func:`save_train_state`, every tensor on the CPU (``load_state_dict``
    moves weights and optimiser state to their parameters' device; RNG states must stay CPU
    byte tensors)."""
    return torch.load(path, map_location="cpu", weights_only=True)


def latest_train_state(path: Path) -> dict | None:
    """The newest readable state: ``path``, else (a truncated or missing file) the previous one,
    else ``None``."""
    for candidate in (path, previous_state(path)):
        if candidate.is_file():
            try:
                return load_train_state(candidate)
            except Exception:  # truncated or corrupt: fall back to the one before
                continue
    return None


def restore_rng(state: dict) -> None:
    """Set torch's CPU RNG state and, when one was saved and a GPU is present, the current CUDA
    device's from a training state. States saved before held a list, one per visible GPU: the
    current device's entry is taken when it was saved, else the first."""
    torch.set_rng_state(state["torch_rng"])
    cuda_rng = state.get("cuda_rng")
    if cuda_rng is None or not torch.cuda.is_available():
        return
    if isinstance(cuda_rng, (list, tuple)):  # the earlier layout: every visible GPU's state
        current = torch.cuda.current_device()
        cuda_rng = cuda_rng[current] if current < len(cuda_rng) else cuda_rng[0]
    torch.cuda.set_rng_state(cuda_rng)

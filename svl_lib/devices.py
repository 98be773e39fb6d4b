"""Where and how a run computes, for the training loop and the evaluation alike: the device, bf16
autocast on a GPU, cuDNN autotuning, and seeding."""
from __future__ import annotations

import contextlib
import random

import numpy as np
import torch


def seed_everything(seed: int) -> None:
    """Seed python, numpy and torch (model init, dropout)."""
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def pick_device(device: str = "auto") -> torch.device:
    """``"auto"`` -> CUDA when available, else CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(device)


def tune_cudnn(device: torch.device) -> None:
    """On a GPU let cuDNN time its convolution algorithms and keep the fastest
    (``cudnn.benchmark``), unless deterministic algorithms were asked for
    (``torch.use_deterministic_algorithms``): autotuning can pick different algorithms per run."""
    if device.type == "cuda" and not torch.are_deterministic_algorithms_enabled():
        torch.backends.cudnn.benchmark = True


def autocast(device: torch.device) -> contextlib.AbstractContextManager:
    """bf16 autocast on a GPU, nothing on a CPU."""
    if device.type == "cuda":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()

"""Where and how a run computes, for the training loop and the evaluation alike: the device, the
training's precision on a GPU (``"bf16"``: autocast and channels-last, the course's default;
``"fp32"``: the paper's; the evaluation always encodes in fp32), cuDNN autotuning, and seeding."""
from __future__ import annotations

import contextlib
import random

import numpy as np
import torch

from ..config import PRECISIONS


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


def check_precision(precision: str) -> None:
    """``precision`` is one of :data:`~svl_lib.config.PRECISIONS`."""
    if precision not in PRECISIONS:
        raise ValueError(f"precision must be one of {PRECISIONS}, got {precision!r}")


def autocast(device: torch.device, precision: str = "bf16") -> contextlib.AbstractContextManager:
    """bf16 autocast on a GPU with ``precision="bf16"``; nothing with ``"fp32"`` or on a CPU."""
    check_precision(precision)
    if device.type == "cuda" and precision == "bf16":
        return torch.autocast("cuda", dtype=torch.bfloat16)
    return contextlib.nullcontext()


def memory_format(device: torch.device, precision: str = "bf16") -> torch.memory_format:
    """The layout of the model and its images in training: channels-last on a GPU with
    ``precision="bf16"`` (faster bf16 convolutions), torch's default otherwise (the paper's fp32)."""
    check_precision(precision)
    if device.type == "cuda" and precision == "bf16":
        return torch.channels_last
    return torch.preserve_format

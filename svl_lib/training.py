"""The training loop shared by every experiment.

One step: tokenize the batch's captions, forward both towers, loss, backward, clip the model's
gradient norm, optimiser step, scheduler step. The learning rate warms up linearly, then follows
a cosine to 0 over all steps (the paper's CLIP schedule). Seeded: the same seed gives the same
batches and the same initialisation.
"""
from __future__ import annotations

import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from .data.loading import CaptionDataset
from .losses import info_nce
from .models.base import ContrastiveModel

LossFn = Callable[[torch.Tensor, torch.Tensor, torch.Tensor], torch.Tensor]


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


def show_progress() -> bool:
    """Progress bars unless running in CI (``CI`` set) or ``SVL_QUIET`` is set."""
    return not (os.environ.get("CI") or os.environ.get("SVL_QUIET"))


@dataclass
class TrainSettings:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    grad_clip: float = 2.0
    warmup_steps: int = 20
    seed: int = 0


def warmup_cosine(step: int, warmup: int, total: int) -> float:
    """LR multiplier: ``(step+1)/warmup`` during warm-up, then cosine from 1 to 0."""
    if step < warmup:
        return (step + 1) / warmup
    progress = (step - warmup) / max(1, total - warmup)
    return 0.5 * (1.0 + math.cos(math.pi * min(1.0, progress)))


def train(model: ContrastiveModel, dataset: CaptionDataset, settings: TrainSettings,
          loss_fn: LossFn = info_nce, on_step: Callable[[dict], None] | None = None,
          progress: bool | None = None) -> list[dict]:
    """Train in place; returns the history, one record per step
    (``step, epoch, loss, logit_scale, lr``), each also passed to ``on_step``."""
    generator = torch.Generator().manual_seed(settings.seed)
    loader = DataLoader(dataset, batch_size=settings.batch_size, shuffle=True, drop_last=True,
                        generator=generator)
    if len(loader) == 0:
        raise ValueError(f"batch_size={settings.batch_size} is larger than the {len(dataset)} "
                         "training items: lower batch_size or use more training images")
    total = settings.epochs * len(loader)
    params = [p for p in model.parameters() if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, settings.warmup_steps, total))
    history: list[dict] = []
    show = show_progress() if progress is None else progress
    bar = tqdm(total=total, disable=not show, desc="training", leave=False)
    step = 0
    for epoch in range(settings.epochs):
        dataset.set_epoch(epoch)
        model.train()
        for images, captions, _ in loader:
            image_f, text_f, scale = model(images.to(model.device), model.tokenize(list(captions)))
            loss = loss_fn(image_f, text_f, scale)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
            optimizer.step()
            scheduler.step()
            record = {"step": step, "epoch": epoch, "loss": loss.item(),
                      "logit_scale": scale.item(), "lr": scheduler.get_last_lr()[0]}
            history.append(record)
            if on_step is not None:
                on_step(record)
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", epoch=epoch)
            step += 1
    bar.close()
    model.eval()
    return history

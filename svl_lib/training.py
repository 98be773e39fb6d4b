"""The training loop shared by every experiment.

One step: tokenize the batch's captions, forward both towers, the objective (a loss, possibly
with extra terms), backward, clip the gradient norm (2, as in the paper), optimiser step,
scheduler step, the objective's own update (e.g. a Lagrange multiplier). The learning rate warms up linearly, then follows
a cosine to 0 over all steps (the paper's CLIP schedule). Seeded: the same seed gives the same
batches and the same initialisation.
"""
from __future__ import annotations

import math
import os
import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn
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


class Objective(nn.Module):
    """What the loop minimises: ``forward(image_f, text_f, logit_scale, captions)`` returns the
    total loss and a dict of floats to log. Parameters of an objective (e.g. a decoder) are
    trained with the model; :meth:`after_step` runs after each optimiser step (e.g. to update a
    Lagrange multiplier with its own optimiser)."""

    def __init__(self, loss_fn: LossFn = info_nce):
        super().__init__()
        self.loss_fn = loss_fn

    def forward(self, image_f: torch.Tensor, text_f: torch.Tensor, logit_scale: torch.Tensor,
                captions: list[str]) -> tuple[torch.Tensor, dict[str, float]]:
        return self.loss_fn(image_f, text_f, logit_scale), {}

    def after_step(self) -> None:
        """Hook after the model's optimiser step; nothing by default."""


def _save_state(path: Path, **state: object) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(state, tmp)
    os.replace(tmp, path)


def train(model: ContrastiveModel, dataset: CaptionDataset, settings: TrainSettings,
          objective: Objective | None = None, on_step: Callable[[dict], None] | None = None,
          progress: bool | None = None, state_path: Path | None = None) -> list[dict]:
    """Train in place; return this call's history, one record per step
    (``step, epoch, loss, logit_scale, lr`` and the objective's logged parts), each also passed
    to ``on_step``.

    With ``state_path``, the full training state (model, objective, optimiser, scheduler, shuffle
    generator, epoch) is saved there atomically after every epoch, and a state found there at the
    start is resumed: training continues with the next epoch exactly as if never cut off.
    """
    objective = (objective or Objective()).to(model.device)
    generator = torch.Generator().manual_seed(settings.seed)
    loader = DataLoader(dataset, batch_size=settings.batch_size, shuffle=True, drop_last=True,
                        generator=generator)
    if len(loader) == 0:
        raise ValueError(f"batch_size={settings.batch_size} is larger than the {len(dataset)} "
                         "training items: lower batch_size or use more training images")
    total = settings.epochs * len(loader)
    params = [p for p in [*model.parameters(), *objective.parameters()] if p.requires_grad]
    optimizer = torch.optim.AdamW(params, lr=settings.lr, weight_decay=settings.weight_decay)
    scheduler = torch.optim.lr_scheduler.LambdaLR(
        optimizer, lambda s: warmup_cosine(s, settings.warmup_steps, total))
    first_epoch = 0
    if state_path is not None and state_path.is_file():
        state = torch.load(state_path, map_location=model.device, weights_only=False)
        model.load_state_dict(state["model"])
        objective.load_state_dict(state["objective"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        generator.set_state(state["generator"])
        torch.set_rng_state(state["torch_rng"])
        first_epoch = state["epoch"]
    history: list[dict] = []
    show = show_progress() if progress is None else progress
    bar = tqdm(total=total, initial=first_epoch * len(loader), disable=not show, desc="training",
               leave=False)
    step = first_epoch * len(loader)
    for epoch in range(first_epoch, settings.epochs):
        dataset.set_epoch(epoch)
        model.train()
        for images, captions, _ in loader:
            captions = list(captions)
            image_f, text_f, scale = model(images.to(model.device), model.tokenize(captions))
            loss, parts = objective(image_f, text_f, scale, captions)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(params, settings.grad_clip)
            optimizer.step()
            scheduler.step()
            objective.after_step()
            record = {"step": step, "epoch": epoch, "loss": loss.item(),
                      "logit_scale": scale.item(), "lr": scheduler.get_last_lr()[0], **parts}
            history.append(record)
            if on_step is not None:
                on_step(record)
            bar.update(1)
            bar.set_postfix(loss=f"{record['loss']:.3f}", epoch=epoch)
            step += 1
        if state_path is not None:
            _save_state(state_path, model=model.state_dict(), objective=objective.state_dict(),
                        optimizer=optimizer.state_dict(), scheduler=scheduler.state_dict(),
                        generator=generator.get_state(), torch_rng=torch.get_rng_state(),
                        epoch=epoch + 1)
    bar.close()
    model.eval()
    return history

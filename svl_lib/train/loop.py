"""The training loop shared by every experiment.

The DataLoader (its workers, when there are any) tokenizes the captions with the model's CPU
tokenizer. One step: move the batch to the device, forward both towers, the objective (a loss,
possibly with extra terms), backward, clip the gradient norm (2, as in the paper; jointly or per
tower, :mod:`svl_lib.train.gradients`, the norms before clipping logged), optimiser step,
the model's own update (the logit-scale clamp), scheduler step, the objective's own update (e.g. a
Lagrange multiplier). The logged ``lr`` is the rate the step used. The learning rate warms up linearly, then follows
a cosine to 0 over all steps (the paper's CLIP schedule), or drops x0.1 every 15 epochs (VSE++). Seeded: the same seed gives the same
batches and the same initialisation.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import torch
from torch.nn.parallel import DistributedDataParallel
from torch.utils.data import DataLoader
from tqdm.auto import tqdm

from ..data.loading import CaptionDataset, EpochBatches, TokenizingCollate, epoch_batches
from .devices import autocast, memory_format, tune_cudnn
from ..distributed import rank_and_world, shard
from .gradients import clip_gradients, clip_groups
from ..models.base import ContrastiveModel
from .objectives import Objective
from ..progress import show_progress
from .schedules import lr_multiplier
from .state import latest_train_state, restore_rng, save_train_state

if TYPE_CHECKING:
    from ..config import ExperimentConfig


@dataclass
class TrainSettings:
    epochs: int
    batch_size: int
    lr: float
    weight_decay: float = 0.0
    grad_clip: float = 2.0
    warmup_steps: int = 20
    seed: int = 0
    schedule: str = "cosine"  # or "step": x0.1 every step_epochs epochs, no warm-up (VSE++)
    step_epochs: int = 15
    checkpoint_every: int = 0  # also save the training state every N steps (0: at epoch ends only)
    image_lr_scale: float = 1.0  # the rate of a parameter group named "image" is lr x this
    num_workers: int = 0  # DataLoader worker processes
    log_every: int = 0  # records made every N steps (one GPU sync each); 0: 1 on a CPU, 50 on a GPU
    grad_clip_mode: str = "joint"  # or "per_tower" (svl_lib.train.gradients)
    # the first N steps train only the objective's parameters (the LTD decoder, warmed up on the
    # fixed model); the model's schedule starts after them
    frozen_model_steps: int = 0
    precision: str = "bf16"  # on a GPU: "bf16" autocast + channels-last, or "fp32" (svl_lib.train.devices)

    @classmethod
    def from_config(cls, config: "ExperimentConfig") -> "TrainSettings":
        """The settings of a run's config (its optimisation fields)."""
        return cls(epochs=config.epochs, batch_size=config.batch_size, lr=config.lr,
                   weight_decay=config.weight_decay, grad_clip=config.grad_clip,
                   warmup_steps=config.warmup_steps, seed=config.seed, schedule=config.lr_schedule,
                   step_epochs=config.lr_step_epochs, checkpoint_every=config.checkpoint_every,
                   image_lr_scale=config.image_lr_scale, num_workers=config.num_workers,
                   grad_clip_mode=config.grad_clip_mode, frozen_model_steps=config.ltd_decoder_warmup,
                   precision=config.precision)


GPU_LOG_EVERY = 50  # the default of ``log_every`` on a GPU


@dataclass
class Optimisation:
    """What one run's parameters are trained with: the AdamW optimiser (the model's parameter
    groups, the image group at ``lr x image_lr_scale``, then the objective's parameters), its
    per-group schedule, every trained parameter in group order with its clipping groups
    (:mod:`svl_lib.train.gradients`), and the group whose rate the history logs (the image tower's)."""

    optimizer: torch.optim.AdamW
    scheduler: torch.optim.lr_scheduler.LambdaLR
    params: list[torch.nn.Parameter]
    clipped: dict
    logged_group: dict

    def state_dicts(self) -> dict:
        return {"optimizer": self.optimizer.state_dict(), "scheduler": self.scheduler.state_dict()}


def build_optimisation(model: ContrastiveModel, objective: Objective, settings: TrainSettings,
                       steps_per_epoch: int) -> Optimisation:
    """The optimiser and schedules of a run of ``settings.epochs x steps_per_epoch`` steps. With
    ``frozen_model_steps``, the model's groups start their schedule that many steps late (rate 0
    until then) while the objective's train from the start."""
    total = settings.epochs * steps_per_epoch
    groups = model.param_groups(settings.lr)
    for group in groups:
        if group.get("name") == "image":
            group["lr"] *= settings.image_lr_scale
    extra = [p for p in objective.parameters() if p.requires_grad]
    if extra:
        groups.append({"params": extra, "lr": settings.lr, "objective": True})
    if not 0 <= settings.frozen_model_steps < total or (settings.frozen_model_steps and not extra):
        raise ValueError(f"frozen_model_steps={settings.frozen_model_steps} must be below the {total} "
                         "training steps, and needs an objective with parameters (LTD) to train meanwhile")
    params = [p for group in groups for p in group["params"]]
    clipped = clip_groups(model, extra, params)
    optimizer = torch.optim.AdamW(groups, lr=settings.lr, weight_decay=settings.weight_decay)
    logged_group = next((g for g in optimizer.param_groups if g.get("name") == "image"),
                        optimizer.param_groups[0])
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, [
        lr_multiplier(settings.schedule, total, settings.warmup_steps, steps_per_epoch, settings.step_epochs,
                      delay=0 if g.get("objective") else settings.frozen_model_steps) for g in groups])
    return Optimisation(optimizer, scheduler, params, clipped, logged_group)


def resume_training(state_path: Path | None, model: ContrastiveModel, objective: Objective,
                    optimisation: Optimisation, generator: torch.Generator) -> int:
    """Load the newest readable training state under ``state_path`` (model, objective, optimiser,
    scheduler, the shuffle generator at the start of its epoch, the RNG states) into them; the
    step it had reached, 0 when there is none."""
    state = latest_train_state(state_path) if state_path is not None else None
    if state is None:
        return 0
    model.load_state_dict(state["model"])
    objective.load_state_dict(state["objective"])
    optimisation.optimizer.load_state_dict(state["optimizer"])
    optimisation.scheduler.load_state_dict(state["scheduler"])
    generator.set_state(state["epoch_generator"])
    restore_rng(state)
    return state["step"]


class StepRecords:
    """The history of a training call. A step's logged values stay tensors until :meth:`flush`
    reads all waiting records with one transfer (one GPU sync for many steps); each record then
    goes to ``on_step`` and the progress bar shows the last loss."""

    def __init__(self, on_step: Callable[[dict], None] | None, bar: tqdm) -> None:
        self.history: list[dict] = []
        self.on_step, self.bar = on_step, bar
        self.pending: list[tuple[dict, list[str], torch.Tensor]] = []

    def add(self, step: int, epoch: int, lr: float, logged: dict[str, torch.Tensor]) -> None:
        """The record of a step, its ``logged`` values read at the next flush."""
        record = {"step": step, "epoch": epoch, **dict.fromkeys(logged), "lr": lr}
        self.pending.append((record, list(logged),
                             torch.stack([v.detach().float().reshape(()) for v in logged.values()])))

    def flush(self) -> None:
        if not self.pending:
            return
        values = iter(torch.cat([logged for _, _, logged in self.pending]).tolist())
        for record, keys, _ in self.pending:
            record.update({key: next(values) for key in keys})
            self.history.append(record)
            if self.on_step is not None:
                self.on_step(record)
        self.bar.set_postfix(loss=f"{self.history[-1]['loss']:.3f}", epoch=self.history[-1]["epoch"])
        self.pending.clear()


def across_processes(model: ContrastiveModel, objective: Objective, world: int
                     ) -> tuple[torch.nn.Module, torch.nn.Module]:
    """What the loop calls for the forward pass and the loss: the model and the objective, each in
    DistributedDataParallel with several processes (the objective only when it has parameters:
    the LTD decoder), so that their gradients are averaged."""
    if world == 1:
        return model, objective
    ids = [model.device.index] if model.device.type == "cuda" else None
    has_params = any(p.requires_grad for p in objective.parameters())
    return (DistributedDataParallel(model, device_ids=ids),
            DistributedDataParallel(objective, device_ids=ids) if has_params else objective)


def train(model: ContrastiveModel, dataset: CaptionDataset, settings: TrainSettings,
          objective: Objective | None = None, on_step: Callable[[dict], None] | None = None,
          progress: bool | None = None, state_path: Path | None = None,
          on_epoch_end: Callable[[int], None] | None = None) -> list[dict]:
    """Train in place; return this call's history, one record per step
    (``step, epoch, loss, logit_scale, lr``, ``logit_bias`` for a model with one, the objective's
    logged parts and the gradient norms before clipping, ``grad_norm_image, grad_norm_text[,
    grad_norm_objective]``), each also passed
    to ``on_step``. Records are made every ``log_every`` steps (one GPU sync for all of them, not
    one per step), and always before ``on_epoch_end``, before a state is saved and at the end.

    With ``state_path``, the full training state (model, objective, optimiser, scheduler, the
    shuffle generator at the start of the epoch, the step, the RNG states) is saved there
    atomically at the end of every epoch and every ``checkpoint_every`` steps, and the newest
    readable state found there at the start is resumed: training continues with the next step
    exactly as if never cut off (the batches of an epoch are re-drawn from the saved generator
    and the done ones skipped; augmentations are seeded per item). On a GPU with ``precision``
    ``"bf16"`` (the default) the forward pass runs in bf16 autocast, with the model and images in
    channels-last memory format; with ``"fp32"`` in float32 in torch's default layout. DataLoader
    workers are started once and kept across epochs (each item is indexed ``(epoch, n)``). In a
    process group (:mod:`svl_lib.distributed`) each process trains on its shard of every global
    batch of ``batch_size`` items, the model (and an objective with parameters) in
    DistributedDataParallel; only rank 0 saves states and shows progress.
    ``on_epoch_end(epoch)`` runs (on rank 0) after each epoch's last step, before its state is saved.
    """
    objective = (objective or Objective()).to(model.device)
    generator = torch.Generator().manual_seed(settings.seed)
    steps_per_epoch = len(dataset) // settings.batch_size
    if steps_per_epoch == 0:
        raise ValueError(f"batch_size={settings.batch_size} is larger than the {len(dataset)} "
                         "training items: lower batch_size or use more training images")
    total = settings.epochs * steps_per_epoch
    optimisation = build_optimisation(model, objective, settings, steps_per_epoch)
    step = resume_training(state_path, model, objective, optimisation, generator)

    def checkpoint(epoch_generator: torch.Tensor) -> None:
        save_train_state(state_path, model=model.state_dict(), objective=objective.state_dict(),
                         **optimisation.state_dicts(), epoch_generator=epoch_generator, step=step)

    rank, world = rank_and_world()
    show = (show_progress() if progress is None else progress) and rank == 0
    bar = tqdm(total=total, initial=step, disable=not show, desc="training", leave=False)
    records = StepRecords(on_step, bar)
    cuda = model.device.type == "cuda"
    tune_cudnn(model.device)
    log_every = settings.log_every or (GPU_LOG_EVERY if cuda else 1)
    layout = memory_format(model.device, settings.precision)  # bf16 on a GPU: channels-last
    if layout == torch.channels_last:
        model.to(memory_format=layout)
    forward, loss_of = across_processes(model, objective, world)
    sampler, workers, first_epoch = EpochBatches(), settings.num_workers, step // steps_per_epoch
    loader = DataLoader(dataset, batch_sampler=sampler, num_workers=workers, pin_memory=cuda,
                        collate_fn=TokenizingCollate(model.text_tokenizer()),  # tokens made there
                        persistent_workers=workers > 0)  # workers started once, not every epoch
    optimizer, scheduler = optimisation.optimizer, optimisation.scheduler
    for epoch in range(first_epoch, settings.epochs):
        epoch_generator = generator.get_state()
        batches = shard(epoch_batches(len(dataset), settings.batch_size, generator), rank, world)
        dataset.set_epoch(epoch)
        sampler.set(epoch, batches[step - epoch * steps_per_epoch:])
        if workers and epoch > first_epoch:  # the draw of the workers' base seed that a new
            torch.empty((), dtype=torch.int64).random_()  # loader makes: torch's RNG as with one per epoch
        model.train()
        for images, captions, tokens in loader:
            with autocast(model.device, settings.precision):
                out = forward(images.to(model.device, non_blocking=True, memory_format=layout),
                              model.text_to_device(tokens, non_blocking=cuda))  # pinned on a GPU
            loss, parts = loss_of(out.float(), captions)
            lr = optimisation.logged_group["lr"]  # the rate this step uses (the image tower's)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            norms = clip_gradients(optimisation.params, optimisation.clipped, settings.grad_clip,
                                   settings.grad_clip_mode, model.device)
            optimizer.step()
            model.after_step()
            scheduler.step()
            objective.after_step()
            bias = {} if out.logit_bias is None else {"logit_bias": out.logit_bias}
            records.add(step, epoch, lr,
                        {"loss": loss, "logit_scale": out.logit_scale, **bias, **parts, **norms})
            bar.update(1)
            step += 1
            end_of_epoch = step % steps_per_epoch == 0
            saving = state_path is not None and rank == 0 and (
                end_of_epoch or (settings.checkpoint_every and step % settings.checkpoint_every == 0))
            if step % log_every == 0 or end_of_epoch or saving:
                records.flush()
            if end_of_epoch and on_epoch_end is not None and rank == 0:
                on_epoch_end(epoch)  # before the epoch's state: a resume never repeats it
                model.train()
            if state_path is None or rank != 0:
                continue
            if step % steps_per_epoch == 0:
                checkpoint(generator.get_state())  # the next epoch starts from here
            elif settings.checkpoint_every and step % settings.checkpoint_every == 0:
                checkpoint(epoch_generator)
    bar.close()
    model.eval()
    return records.history

"""What the training loop minimises, in one place: InfoNCE, the VSE++ triplet loss or SigLIP's
sigmoid loss (:mod:`svl_lib.losses`), optionally wrapped in implicit feature modification (IFM), optionally
with latent target decoding (LTD, :mod:`svl_lib.ltd`).

An :class:`Objective` maps a model's output (:class:`~svl_lib.outputs.ModelOutput`: features
``(B, D)``, logit scale and bias) and the batch's ``captions`` to the total loss and a dict of 0-dim tensors to log (read by the loop when it flushes its records, so a
step does not wait for the device) (with several processes the contrastive loss sees every
process's features, :func:`svl_lib.distributed.gather`, and LTD's multiplier the mean L_rec); its parameters (e.g. the LTD decoder) are trained with the
model, and :meth:`Objective.after_step` runs after each optimiser step (e.g. the Lagrange
multiplier's ascent). :func:`build_objective` makes the objective of a config;
:func:`reconstruction_on_split` measures a trained LTD decoder on a split's captions.
"""
from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

import torch
import torch.distributed as dist
from torch import nn

from ..corpus import Corpus
from ..data.loading import eval_captions, eval_images
from ..distributed import gather, mean_over_processes, rank_and_world
from ..evaluate.conditions import encode_images, encode_texts
from ..losses import LOSSES, IFMLoss, InfoNCE
from ..ltd import (LTD_SIDES, LagrangeMultiplier, TargetCache, TargetDecoder, cached_targets,
                   reconstruction_loss, target_cache_path, target_text, training_captions)
from ..models.base import ContrastiveModel
from ..outputs import ModelOutput
from ..shortcuts import ShortcutInjector

if TYPE_CHECKING:
    from ..config import ExperimentConfig
    from ..data.loading import CaptionDataset

LossFn = Callable[..., torch.Tensor]  # (image_f, text_f, logit_scale, logit_bias) -> scalar
# Up to this many distinct target strings are encoded before training and kept (the toy: about
# 10k); beyond it (COCO: 566k clean captions, 2.8M as fed over 5 epochs) targets are encoded on the
# fly, per batch, with the most recent ones kept.
MAX_PRECOMPUTED_TARGETS = 200_000


class Objective(nn.Module):
    """A contrastive loss ``loss_fn(image_f, text_f, logit_scale, logit_bias)`` (a module of
    :mod:`svl_lib.losses`) as an objective, with nothing to log and nothing to do after a step."""

    def __init__(self, loss_fn: LossFn | None = None):
        super().__init__()
        self.loss_fn = InfoNCE() if loss_fn is None else loss_fn

    def contrastive(self, out: ModelOutput) -> torch.Tensor:
        """The contrastive loss of every process's features (:func:`gather`)."""
        return self.loss_fn(gather(out.image_features), gather(out.text_features), out.logit_scale,
                            out.logit_bias)

    def forward(self, out: ModelOutput, captions: list[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        return self.contrastive(out), {}

    def after_step(self) -> None:
        """Hook after the model's optimiser step; nothing by default."""


class LTDObjective(Objective):
    """Contrastive loss + latent target decoding of the caption embedding.

    ``forward(out, captions)``: ``L_con`` (:meth:`Objective.contrastive`); targets of the
    captions (:func:`target_text`, looked up in ``cache``); ``L_rec`` of ``decoder(text_f)``
    (:meth:`reconstruction`). ``side="image"`` (the course's extension, not the paper's method):
    ``L_rec`` of ``decoder(image_f)`` instead, item ``b``'s image embedding decoded towards the
    target of caption ``b``, the caption fed with that image in the batch (one caption per item),
    so the reconstruction's gradient reaches the image tower and not the caption tower.
    ``"unconstrained"``: ``L = L_con + beta L_rec``. ``"constrained"``:
    ``L = L_con + lambda (L_rec / eta - 1)`` with ``lambda`` a constant in the backward pass, and
    :meth:`after_step` ascends ``lambda`` by ``L_rec / eta - 1`` of that step. Logs ``contrastive``,
    ``rec`` and (constrained) ``lambda``, the value used in the step, as 0-dim tensors.
    """

    def __init__(self, loss_fn: LossFn, cache: TargetCache, decoder: TargetDecoder,
                 mode: str = "constrained", bound: float = 0.1, beta: float = 1.0,
                 multiplier: LagrangeMultiplier | None = None, target_caption: str = "as_fed",
                 n_digits: int = 4, side: str = "caption"):
        super().__init__(loss_fn)
        if mode not in ("constrained", "unconstrained"):
            raise ValueError(f"LTD mode must be 'constrained' or 'unconstrained', got {mode!r}")
        if bound <= 0:
            raise ValueError(f"the LTD bound eta must be > 0, got {bound}")
        if beta < 0:
            raise ValueError(f"the LTD weight beta must be >= 0, got {beta}")
        if side not in LTD_SIDES:
            raise ValueError(f"the LTD side must be one of {LTD_SIDES}, got {side!r}")
        target_text("", target_caption, n_digits)  # validates target_caption
        self.cache, self.decoder, self.mode, self.side = cache, decoder, mode, side
        self.bound, self.beta, self.target_caption, self.n_digits = bound, beta, target_caption, n_digits
        self.multiplier = multiplier or LagrangeMultiplier()
        self._last_rec: torch.Tensor | None = None  # on the features' device

    def forward(self, out: ModelOutput, captions: list[str]) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        contrastive = self.contrastive(out)
        rec = self.reconstruction(out.text_features if self.side == "caption" else out.image_features,
                                  captions)
        parts = {"contrastive": contrastive.detach(), "rec": rec.detach()}  # no .item(): no sync
        if self.mode == "unconstrained":
            return contrastive + self.beta * rec, parts
        lam = self.multiplier.value.detach().clone()  # after_step ascends the buffer in place
        self._last_rec = rec.detach()
        return contrastive + lam * (rec / self.bound - 1.0), {**parts, "lambda": lam}

    def reconstruction(self, features: torch.Tensor, captions: Sequence[str]) -> torch.Tensor:
        """``L_rec`` (0-dim) of ``decoder(features)`` (``(B, D)``, the ``side`` embeddings)
        against the targets of ``captions`` (``B``; item ``b``'s caption)."""
        texts = [target_text(c, self.target_caption, self.n_digits) for c in captions]
        targets = self.cache.lookup(texts).to(features.device)
        return reconstruction_loss(self.decoder(features), targets)

    def after_step(self) -> None:
        """Constrained: ascend ``lambda`` by ``L_rec / eta - 1`` of the step just taken (``L_rec``
        averaged over the processes, reduced on the device of the features)."""
        if self.mode == "constrained" and self._last_rec is not None:
            self.multiplier.ascend(mean_over_processes(self._last_rec) / self.bound - 1.0)
            self._last_rec = None


def contrastive_loss(config: "ExperimentConfig") -> nn.Module:
    """The loss ``config.loss`` (:data:`~svl_lib.losses.LOSSES`), wrapped in IFM when
    ``ifm_epsilon > 0``."""
    base = LOSSES[config.loss].build(config)
    return IFMLoss(base, config.ifm_epsilon) if config.ifm_epsilon > 0 else base


def shared_targets(encoder: str, texts: Sequence[str], use_file: bool = True, progress: bool | None = None,
                   device: str | torch.device = "cpu") -> TargetCache:
    """:func:`~svl_lib.ltd.cached_targets` once for a whole process group: the main process (rank 0)
    encodes on ``device`` and sends the ``(len(texts), T)`` targets to every other process, which
    never loads the encoder. ``texts`` must be the same list on every process (each derives it from the same
    data and config); ``device`` is the model's, the one the group's backend takes (NCCL: a GPU)."""
    rank, world = rank_and_world()
    if world == 1:
        return cached_targets(encoder, texts, use_file, progress, str(device))[0]
    if rank == 0:
        cache, _ = cached_targets(encoder, texts, use_file, progress, str(device))
        table = torch.stack([cache.targets[t] for t in texts]).to(device)
        shape = torch.tensor(table.shape, device=device)
    else:
        shape = torch.zeros(2, dtype=torch.long, device=device)
    dist.broadcast(shape, 0)
    if rank != 0:
        table = torch.empty(*shape.tolist(), device=device)
    dist.broadcast(table, 0)
    if rank == 0:
        return cache
    cache = TargetCache(encoder, device=str(device))
    cache.targets = dict(zip(texts, table.cpu()))
    return cache


def encoder_device(config: "ExperimentConfig") -> torch.device:
    """Where the LTD sentence encoder runs: this process's GPU when the run trains on one, else
    the CPU."""
    if torch.cuda.is_available() and config.device != "cpu":
        return torch.device("cuda", torch.cuda.current_device())
    return torch.device("cpu")


def build_objective(config: "ExperimentConfig", dataset: "CaptionDataset",
                    progress: bool | None = None, embed_dim: int | None = None) -> Objective:
    """The objective of ``config`` for training on ``dataset``. The LTD decoder reads caption
    features of width ``embed_dim``: pass the model's (``model.embed_dim``; CLIP's comes from its
    architecture); the default, ``config.embed_dim``, is the toy model's and VSE++'s width.
    For LTD the targets of every caption string the training will feed are encoded here, once, on
    the run's GPU where it has one and by the main process only (:func:`shared_targets`;
    kept in :func:`~svl_lib.ltd.target_cache_path` when ``ltd_target_cache``), unless there are more than
    :data:`MAX_PRECOMPUTED_TARGETS`: then they are encoded on the fly in bounded memory."""
    loss_fn = contrastive_loss(config)
    if config.ltd == "none":
        return Objective(loss_fn)
    injector = dataset.injector
    rotating = (config.ltd_target_caption == "as_fed" and injector is not None
                and injector.spec.on_caption)
    n_texts = dataset.corpus.n_captions * (config.epochs if rotating else 1)
    device = encoder_device(config)
    if n_texts > MAX_PRECOMPUTED_TARGETS:  # e.g. COCO: encode the batch's targets on the fly
        cache = TargetCache(config.ltd_encoder, max_entries=MAX_PRECOMPUTED_TARGETS, device=device)
        with torch.random.fork_rng(devices=[]):
            cache.ensure(target_text(c, config.ltd_target_caption, config.n_digits)
                         for c in dataset.corpus.captions[0][:1])  # loads the encoder, sets dim
    else:
        fed = training_captions(dataset.corpus, injector, config.epochs)
        texts = sorted({target_text(c, config.ltd_target_caption, config.n_digits) for c in fed})
        with torch.random.fork_rng(devices=[]):  # loading the encoder must not move the seeded RNG
            cache = shared_targets(config.ltd_encoder, texts, config.ltd_target_cache, progress, device)
    multiplier = LagrangeMultiplier(config.ltd_lambda_start, config.ltd_lambda_lr,
                                    config.ltd_lambda_momentum, config.ltd_lambda_dampening,
                                    config.ltd_lambda_max)
    width = config.embed_dim if embed_dim is None else embed_dim
    return LTDObjective(loss_fn, cache, TargetDecoder(width, cache.dim, config.ltd_hidden),
                        config.ltd, config.ltd_bound, config.ltd_beta, multiplier,
                        config.ltd_target_caption, config.n_digits, config.ltd_side)


def save_targets(cache: TargetCache, config: "ExperimentConfig") -> None:
    """Keep ``cache``'s targets in :func:`~svl_lib.ltd.target_cache_path` for the next runs, when
    ``config.ltd_target_cache`` and the cache holds every target (is not bounded)."""
    if config.ltd_target_cache and cache.max_entries is None:
        cache.save(target_cache_path(config.ltd_encoder))


@torch.no_grad()
def reconstruction_on_split(model: ContrastiveModel, objective: LTDObjective, corpus: Corpus,
                            injector: ShortcutInjector | None = None, max_images: int | None = None,
                            batch_size: int = 256) -> float:
    """The LTD decoder's mean ``L_rec`` over the captions of ``corpus`` (those of its first
    ``max_images`` images; all by default), e.g. the training split against the held-out test
    split of a trained run: does the decoder reconstruct captions it never saw as well as the
    ones it was trained on? Embeddings as the evaluation makes them (float32, eval mode); the
    decoder reads each caption's embedding, or with ``side="image"`` its image's. Clean, or with
    ``injector`` (an evaluation injector of this split) the evaluation shortcut on images and
    captions. Targets missing from the objective's cache (the held-out captions') are encoded."""
    n_images = corpus.n_images if max_images is None else min(max_images, corpus.n_images)
    part = dataclasses.replace(corpus, captions=corpus.captions[:n_images])
    captions, owners = eval_captions(part, injector)
    if objective.side == "caption":
        features = encode_texts(model, captions)
    else:
        images = eval_images(part, injector, *model.image_transform())
        features = encode_images(model, images, batch_size)[torch.tensor(owners)]
    device = next(objective.decoder.parameters()).device
    total = torch.zeros((), device=device)
    for start in range(0, len(captions), batch_size):
        batch = features[start:start + batch_size].to(device)
        total += objective.reconstruction(batch, captions[start:start + batch_size]) * len(batch)
    return float(total) / len(captions)

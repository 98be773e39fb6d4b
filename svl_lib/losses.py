"""Contrastive losses with the open_clip signature ``(image_features, text_features, logit_scale)``
(SigLIP's sigmoid loss also takes ``logit_bias``).

Notation: ``B`` = batch size, ``S = Z_img @ Z_txt.T`` the ``(B, B)`` cosine matrix of
L2-normalised features, ``s`` = ``logit_scale`` = 1/temperature. Row ``i`` of the batch is a
matching (image, caption) pair; every other row is a negative, including another caption of the
same image (nothing masks such duplicates, as in the paper).

Every loss here is a function of ``S`` (``*_from_similarities``), so that implicit feature
modification (IFM), which perturbs ``S``, works with each of them.
"""
from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import torch
import torch.nn.functional as F
from torch import nn

from .distributed import gather, rank_and_world

REDUCTIONS = ("sum", "mean")


def check_features(image_features: torch.Tensor, text_features: torch.Tensor) -> None:
    """One ValueError unless both are ``(B, D)`` with the same ``B`` and ``D``."""
    if image_features.shape != text_features.shape or image_features.dim() != 2:
        raise ValueError("image_features and text_features must both be (B, D); got "
                         f"{tuple(image_features.shape)} and {tuple(text_features.shape)}")


def cosine_matrix(image_features: torch.Tensor, text_features: torch.Tensor) -> torch.Tensor:
    """``S = image_features @ text_features.T``: ``(B, D), (B, D) -> (B, B)``."""
    check_features(image_features, text_features)
    return image_features @ text_features.T


def info_nce_from_similarities(sims: torch.Tensor, logit_scale: torch.Tensor | float) -> torch.Tensor:
    """``1/2 [CE(s S, arange B) + CE(s S^T, arange B)]``, batch mean, for a ``(B, B)`` matrix ``S``."""
    logits = logit_scale * sims
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def info_nce(image_features: torch.Tensor, text_features: torch.Tensor,
             logit_scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP): ``1/2 [CE(s S, arange B) + CE(s S^T, arange B)]``, batch mean.

    ``image_features``, ``text_features``: ``(B, D)``; ``logit_scale``: scalar. Returns a scalar.
    """
    return info_nce_from_similarities(cosine_matrix(image_features, text_features), logit_scale)


def sigmoid_from_similarities(sims: torch.Tensor, logit_scale: torch.Tensor | float,
                              logit_bias: torch.Tensor | float, offset: int = 0) -> torch.Tensor:
    """Pairwise sigmoid loss (SigLIP, Zhai et al. 2023) of a ``(B, N)`` cosine matrix ``S``.

    Logits ``z = s S + b``; labels ``y_ij = +1`` for the positive pairs ``j = i + offset`` (the
    diagonal of a square ``S``) and ``-1`` for every other pair. Returns
    ``-sum_ij log sigmoid(y_ij z_ij) / B``: every pair counts, divided by the ``B`` rows.
    ``offset`` (``0 <= offset <= N - B``) places the positives of one process's rows among the
    captions of every process (see :func:`sigmoid_loss`).
    """
    if sims.dim() != 2:
        raise ValueError(f"sims must be a (B, N) matrix; got shape {tuple(sims.shape)}")
    rows, cols = sims.shape
    if not 0 <= offset <= cols - rows:
        raise ValueError(f"offset={offset} puts the positives of {rows} rows outside {cols} "
                         f"columns: use 0 <= offset <= {cols - rows}")
    labels = -torch.ones_like(sims)
    labels.diagonal(offset).fill_(1.0)
    return -F.logsigmoid(labels * (logit_scale * sims + logit_bias)).sum() / rows


def sigmoid_loss(image_features: torch.Tensor, text_features: torch.Tensor,
                 logit_scale: torch.Tensor | float, logit_bias: torch.Tensor | float) -> torch.Tensor:
    """SigLIP's sigmoid loss of the features (see :func:`sigmoid_from_similarities`).

    ``image_features``, ``text_features``: ``(B, D)``; ``logit_scale`` (``s``, already
    exponentiated, as the models return it) and ``logit_bias``: scalars. Returns a scalar.

    With ``W`` processes (an initialised process group), each holding ``B`` pairs (the same ``B``
    on every process), the captions of every process are gathered in rank order
    (:func:`~svl_lib.distributed.gather`: an all-gather whose backward sums the gradients of all
    processes and returns them to the process that computed those captions). Process ``r``
    scores its ``B`` images against all ``W B`` captions, positives in its own block (columns
    ``r B .. r B + B - 1``), and returns the loss of its rows divided by its ``B`` (SigLIP's
    per-device loss, the value of open_clip's ``SigLipLoss(rank=r, world_size=W)``). The ``W``
    losses sum to ``W`` times the single-process loss of the global batch, so the gradients that
    reach each process's features are ``W`` times those of the global loss, and
    DistributedDataParallel's average over the processes gives exactly its gradient.
    """
    check_features(image_features, text_features)
    rank = rank_and_world()[0]
    sims = image_features @ gather(text_features).T
    return sigmoid_from_similarities(sims, logit_scale, logit_bias, offset=rank * sims.shape[0])


def triplet_from_similarities(sims: torch.Tensor, margin: float = 0.2, max_violation: bool = True,
                              reduction: str = "sum") -> torch.Tensor:
    """VSE++ hinge loss on a ``(B, B)`` cosine matrix ``S`` (Faghri et al. 2018).

    ``c_cap[i, j] = relu(margin + S_ij - S_ii)`` (image ``i`` as the query, caption ``j`` a negative)
    and ``c_img[i, j] = relu(margin + S_ij - S_jj)`` (caption ``j`` as the query, image ``i`` a
    negative), both 0 on the diagonal. Per pair ``i``: with ``max_violation`` the hardest negative
    only, ``max_j c_cap[i, j] + max_j c_img[j, i]``; otherwise the sum over all negatives. Then
    ``reduction`` over the ``B`` pairs: ``"sum"`` (the paper's) or ``"mean"``.
    """
    if reduction not in REDUCTIONS:
        raise ValueError(f"reduction must be one of {REDUCTIONS}, got {reduction!r}")
    positives = sims.diagonal()
    off_diagonal = ~torch.eye(sims.shape[0], dtype=torch.bool, device=sims.device)
    cost_caption = (margin + sims - positives[:, None]).clamp(min=0) * off_diagonal
    cost_image = (margin + sims - positives[None, :]).clamp(min=0) * off_diagonal
    if max_violation:
        per_pair = cost_caption.max(dim=1).values + cost_image.max(dim=0).values
    else:
        per_pair = cost_caption.sum(dim=1) + cost_image.sum(dim=0)
    return per_pair.sum() if reduction == "sum" else per_pair.mean()


def vse_triplet(image_features: torch.Tensor, text_features: torch.Tensor,
                logit_scale: torch.Tensor | float | None = None, margin: float = 0.2,
                max_violation: bool = True, reduction: str = "sum") -> torch.Tensor:
    """VSE++ triplet loss of the features (see :func:`triplet_from_similarities`).

    ``logit_scale`` is accepted for the common signature and **ignored**: the hinge works on raw
    cosines, so the margin sets the scale and a learnable temperature gets no gradient.
    """
    return triplet_from_similarities(cosine_matrix(image_features, text_features), margin,
                                     max_violation, reduction)


def ifm_perturb(sims: torch.Tensor, epsilon: float) -> torch.Tensor:
    """Implicit feature modification of a ``(B, B)`` cosine matrix: ``S' = S + M`` with
    ``M_ii = -epsilon`` (positives made harder) and ``M_ij = +epsilon`` for ``i != j`` (negatives
    made harder). Applied to cosines, *before* the logit scale: the logit shift is ``epsilon * s``."""
    if epsilon < 0:
        raise ValueError(f"IFM epsilon must be >= 0, got {epsilon}")
    eye = torch.eye(sims.shape[0], dtype=sims.dtype, device=sims.device)
    return sims + epsilon * (1.0 - 2.0 * eye)


class SimilarityLoss(Protocol):
    """A contrastive loss written on the cosine matrix: ``(S (B, B), logit_scale, logit_bias) ->
    scalar`` (a loss without a bias ignores it)."""

    def from_similarities(self, sims: torch.Tensor, logit_scale: torch.Tensor | float,
                          logit_bias: torch.Tensor | float | None = None) -> torch.Tensor: ...


class ContrastiveLoss(nn.Module, ABC):
    """A loss written on ``S`` (:meth:`from_similarities`) as a module on features:
    ``loss(image_features (B, D), text_features (B, D), logit_scale, logit_bias=None)``."""

    @abstractmethod
    def from_similarities(self, sims: torch.Tensor, logit_scale: torch.Tensor | float,
                          logit_bias: torch.Tensor | float | None = None) -> torch.Tensor:
        """The loss of a ``(B, B)`` cosine matrix."""

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor,
                logit_scale: torch.Tensor | float,
                logit_bias: torch.Tensor | float | None = None) -> torch.Tensor:
        return self.from_similarities(cosine_matrix(image_features, text_features), logit_scale, logit_bias)


class InfoNCE(ContrastiveLoss):
    """Module form of :func:`info_nce` (``logit_bias`` ignored)."""

    def from_similarities(self, sims, logit_scale, logit_bias=None) -> torch.Tensor:
        return info_nce_from_similarities(sims, logit_scale)


class TripletLoss(ContrastiveLoss):
    """Module form of :func:`vse_triplet` (``logit_scale`` and ``logit_bias`` ignored)."""

    def __init__(self, margin: float = 0.2, max_violation: bool = True, reduction: str = "sum"):
        super().__init__()
        if margin < 0:
            raise ValueError(f"triplet margin must be >= 0, got {margin}")
        if reduction not in REDUCTIONS:
            raise ValueError(f"triplet reduction must be one of {REDUCTIONS}, got {reduction!r}")
        self.margin, self.max_violation, self.reduction = margin, max_violation, reduction

    def from_similarities(self, sims, logit_scale=None, logit_bias=None) -> torch.Tensor:
        return triplet_from_similarities(sims, self.margin, self.max_violation, self.reduction)


class SigmoidLoss(ContrastiveLoss):
    """Module form of SigLIP's loss on the features it is given (:func:`sigmoid_from_similarities`
    of their square ``S``). The training objective gives it every process's features, so each
    process computes the loss of the global batch; that loss is the mean of the per-process losses
    of :func:`sigmoid_loss` (open_clip's), and so has the same gradient after the processes'
    average."""

    def from_similarities(self, sims, logit_scale, logit_bias=None) -> torch.Tensor:
        if logit_bias is None:
            raise ValueError("the sigmoid loss needs a logit bias: build the model with "
                             "loss='sigmoid' (ContrastiveModel.add_logit_bias)")
        return sigmoid_from_similarities(sims, logit_scale, logit_bias)


class IFMLoss(nn.Module):
    """IFM around a loss written on ``S``: ``L = 1/2 (L(S) + L(S'))`` with ``S'`` from
    :func:`ifm_perturb` (IFM's ``(L + a L_adv) / (1 + a)`` with ``a = 1``). ``epsilon = 0`` gives
    ``L(S)``. With the triplet loss, ``S'`` raises every hinge by ``2 epsilon``: a larger margin."""

    def __init__(self, base: SimilarityLoss, epsilon: float):
        super().__init__()
        if epsilon < 0:
            raise ValueError(f"IFM epsilon must be >= 0, got {epsilon}")
        self.base, self.epsilon = base, epsilon

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor,
                logit_scale: torch.Tensor | float,
                logit_bias: torch.Tensor | float | None = None) -> torch.Tensor:
        sims = cosine_matrix(image_features, text_features)
        return 0.5 * (self.base.from_similarities(sims, logit_scale, logit_bias)
                      + self.base.from_similarities(ifm_perturb(sims, self.epsilon), logit_scale, logit_bias))


@dataclass(frozen=True)
class LossEntry:
    """A loss by name. ``build(config)``: its module, read from the config's fields;
    ``uses_scale``: whether it reads the logit scale (a model trained with a loss that does not
    gets a fixed scale, :meth:`~svl_lib.models.base.ContrastiveModel.fix_scale`); ``bias_start``:
    ``(bias, scale)``, the start of a learnable logit bias for a loss that needs one (SigLIP's
    -10 and 10), ``None`` otherwise."""

    build: Callable[[Any], nn.Module]
    uses_scale: bool = True
    bias_start: tuple[float, float] | None = None


LOSSES: dict[str, LossEntry] = {
    "infonce": LossEntry(lambda config: InfoNCE()),
    "triplet": LossEntry(lambda config: TripletLoss(config.triplet_margin, config.triplet_max_violation,
                                                    config.triplet_reduction), uses_scale=False),
    "sigmoid": LossEntry(lambda config: SigmoidLoss(), bias_start=(-10.0, 10.0)),
}

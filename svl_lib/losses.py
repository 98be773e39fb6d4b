"""Contrastive losses with the open_clip signature ``(image_features, text_features, logit_scale)``.

Notation: ``B`` = batch size, ``S = Z_img @ Z_txt.T`` the ``(B, B)`` cosine matrix of
L2-normalised features, ``s`` = ``logit_scale`` = 1/temperature. Row ``i`` of the batch is a
matching (image, caption) pair; every other row is a negative, including another caption of the
same image (nothing masks such duplicates, as in the paper).
"""
from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


def info_nce(image_features: torch.Tensor, text_features: torch.Tensor,
             logit_scale: torch.Tensor | float) -> torch.Tensor:
    """Symmetric InfoNCE (CLIP): ``1/2 [CE(s S, arange B) + CE(s S^T, arange B)]``, batch mean.

    ``image_features``, ``text_features``: ``(B, D)``; ``logit_scale``: scalar. Returns a scalar.
    """
    if image_features.shape != text_features.shape or image_features.dim() != 2:
        raise ValueError("image_features and text_features must both be (B, D); got "
                         f"{tuple(image_features.shape)} and {tuple(text_features.shape)}")
    logits = logit_scale * image_features @ text_features.T
    target = torch.arange(logits.shape[0], device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


class InfoNCE(nn.Module):
    """Module form of :func:`info_nce`."""

    def forward(self, image_features: torch.Tensor, text_features: torch.Tensor,
                logit_scale: torch.Tensor | float) -> torch.Tensor:
        return info_nce(image_features, text_features, logit_scale)

"""Gradient clipping of the training loop, over all parameters at once or per tower, with the
gradient norms before clipping (logged as ``grad_norm_image``, ``grad_norm_text`` and, when the
objective has parameters, ``grad_norm_objective``).

Groups (:func:`clip_groups`): ``image`` and ``text`` (the model's towers,
:meth:`~svl_lib.models.base.ContrastiveModel.tower_parameters`), ``objective`` (its parameters,
e.g. the LTD decoder; only when it has some) and ``rest`` (anything else trained: the logit
scale). Mode ``"joint"``: one norm over every parameter, clipped to ``max_norm`` (what the loop
always did); ``"per_tower"``: each group's norm clipped to ``max_norm`` on its own, so a large
gradient in one tower no longer scales down the others'.
"""
from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from ..models.base import ContrastiveModel

GRAD_CLIP_MODES = ("joint", "per_tower")
LOGGED_GROUPS = ("image", "text", "objective")  # the groups whose norms go into the history


def clip_groups(model: ContrastiveModel, objective_params: Sequence[nn.Parameter],
                params: Sequence[nn.Parameter]) -> dict[str, list[nn.Parameter]]:
    """The trained ``params`` split into ``image``, ``text``, ``objective`` (only when
    ``objective_params``) and ``rest``; every parameter of ``params`` is in exactly one group."""
    trained = {id(p) for p in params}
    towers = model.tower_parameters()
    groups = {name: [p for p in towers[name] if id(p) in trained] for name in ("image", "text")}
    if objective_params:
        groups["objective"] = list(objective_params)
    grouped = {id(p) for group in groups.values() for p in group}
    groups["rest"] = [p for p in params if id(p) not in grouped]
    return groups


def grad_norm(params: Sequence[nn.Parameter], device: torch.device) -> torch.Tensor:
    """The L2 norm of the gradients of ``params`` as a 0-dim tensor on ``device`` (0 without any);
    no device sync."""
    grads = [p.grad.detach() for p in params if p.grad is not None]
    if not grads:
        return torch.zeros((), device=device)
    return torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))).to(device)


def clip_gradients(params: Sequence[nn.Parameter], groups: dict[str, list[nn.Parameter]],
                   max_norm: float, mode: str, device: torch.device) -> dict[str, torch.Tensor]:
    """Clip the gradients in place (``mode`` ``"joint"``: ``params`` together, as
    ``clip_grad_norm_(params, max_norm)``; ``"per_tower"``: each of ``groups`` on its own) and
    return ``{"grad_norm_<group>": norm before clipping}`` for the groups of
    :data:`LOGGED_GROUPS` present, as 0-dim tensors on ``device``."""
    if mode not in GRAD_CLIP_MODES:
        raise ValueError(f"grad_clip_mode must be one of {GRAD_CLIP_MODES}, got {mode!r}")
    logged = [name for name in LOGGED_GROUPS if name in groups]
    if mode == "joint":
        norms = {name: grad_norm(groups[name], device) for name in logged}
        torch.nn.utils.clip_grad_norm_(params, max_norm)
    else:
        norms = {name: torch.nn.utils.clip_grad_norm_(group, max_norm).to(device)
                 for name, group in groups.items()}
    return {f"grad_norm_{name}": norms[name] for name in logged}

"""What a model's forward pass returns and an objective receives whole (as open_clip's model
outputs): the two towers' L2-normalised features, the logit scale and, for the sigmoid loss,
the logit bias. New fields (e.g. token features) get a default, so no caller breaks."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch


@dataclass
class ModelOutput:
    """``image_features``, ``text_features``: ``(B, D)``, L2-normalised; ``logit_scale``: the
    0-dim ``s = 1/temperature``; ``logit_bias``: SigLIP's 0-dim ``b``, ``None`` for a model
    without one."""

    image_features: torch.Tensor
    text_features: torch.Tensor
    logit_scale: torch.Tensor
    logit_bias: torch.Tensor | None = None

    def float(self) -> "ModelOutput":
        """Every tensor in float32 (the losses' precision under mixed-precision autocast)."""
        return dataclasses.replace(self, **{f.name: getattr(self, f.name).float()
                                            for f in dataclasses.fields(self)
                                            if getattr(self, f.name) is not None})

"""What every image-text model of the course provides.

``model.tokenize(captions)`` turns raw caption strings into the model's text input (on the model's
device); ``model(images, text)`` returns L2-normalised ``image_features (B, D)``,
``text_features (B, D)`` and the scalar ``logit_scale`` (= 1/temperature), the open_clip signature
that the losses take.
"""
from __future__ import annotations

import math
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

MAX_LOGIT_SCALE = 100.0


class ContrastiveModel(nn.Module):
    """Two towers and a logit scale: learnable (init 1/0.07) or fixed when ``temperature`` is set."""

    def __init__(self, temperature: float | None = None, init_temperature: float = 0.07):
        super().__init__()
        if temperature is None:
            self.log_scale = nn.Parameter(torch.tensor(math.log(1.0 / init_temperature)))
        else:
            if temperature <= 0:
                raise ValueError(f"temperature must be > 0, got {temperature}")
            self.register_buffer("log_scale", torch.tensor(math.log(1.0 / temperature)))

    @property
    def device(self) -> torch.device:
        return self.log_scale.device

    @property
    def logit_scale(self) -> torch.Tensor:
        """``exp(log_scale)``, clamped at 100 as in CLIP."""
        return self.log_scale.exp().clamp(max=MAX_LOGIT_SCALE)

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def text_embedding(self, text: Any) -> torch.Tensor:
        raise NotImplementedError

    def tokenize(self, captions: list[str]) -> Any:
        raise NotImplementedError

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> L2-normalised ``(B, D)``."""
        return F.normalize(self.image_embedding(images), dim=-1)

    def encode_text(self, text: Any) -> torch.Tensor:
        """Tokenised captions -> L2-normalised ``(B, D)``."""
        return F.normalize(self.text_embedding(text), dim=-1)

    def forward(self, images: torch.Tensor, text: Any) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        return self.encode_image(images), self.encode_text(text), self.logit_scale

"""The model contract: what every image-text model of the course provides, so that the toy
model, CLIP and VSE++ are interchangeable in the training loop, the evaluation and the run folders.

* ``text_tokenizer()`` -> a picklable callable, captions -> the text input of the model on the
  CPU (a tensor or a tuple of tensors; DataLoader workers get it, not the model), and
  ``text_to_device(text)`` moving such an input to the model's device; ``tokenize(captions)`` is
  the two in turn (the text input on the model's device);
* ``encode_image(images (B, 3, H, W))`` and ``encode_text(tokens)`` -> L2-normalised ``(B, D)``;
  ``model(images, tokens)`` returns a :class:`~svl_lib.outputs.ModelOutput`: both, the scalar
  ``logit_scale`` (= 1/temperature) and the ``logit_bias`` (``None`` unless the model has one,
  :meth:`ContrastiveModel.add_logit_bias`), which the objective receives whole; ``embed_dim`` is ``D``;
* ``image_transform(train)``: the image transform in two picklable parts (DataLoader workers get
  them, not the model): ``prepare`` (geometric: resize / crop, PIL -> PIL, before the shortcut is
  pasted; ``None`` for none; random crops and flips only when ``train``) and ``tensor`` (PIL ->
  ``(3, H, W)`` uint8 tensor, after); ``encode_image`` scales and normalises uint8 images on the
  model's device (:meth:`ContrastiveModel.pixels`, with ``pixel_mean_std()``);
* ``param_groups(lr)``: the optimiser's parameter groups (a learning rate per tower);
* ``tower_parameters()``: which parameters are the image tower and which the caption tower
  (per-tower gradient clipping; ``image_prefixes`` also names the image tower's ``state_dict``
  keys, for ``init_parts="image"``);
* ``after_step()``: a hook after each optimiser step (here: clamp the logit scale);
* ``rebuild_info()``: JSON-ready data needed to rebuild the model before loading its weights
  (e.g. the vocabulary), saved with the ``state_dict`` in a run's ``model.pt``.
"""
from __future__ import annotations

import math
from abc import ABC, abstractmethod
from collections.abc import Callable
from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from ..transforms import PrepareFn, TensorFn, to_uint8_tensor
from ..outputs import ModelOutput

MAX_LOGIT_SCALE = 100.0
TINY = "tiny"  # the arch of the tiny CLIP and VSE++ that CPU tests build

Tokenizer = Callable[[list[str]], Any]  # captions -> text input on the CPU


def move_text(text: Any, device: torch.device, non_blocking: bool = False) -> Any:
    """A text input (a tensor or a tuple of tensors) on ``device``."""
    if isinstance(text, torch.Tensor):
        return text.to(device, non_blocking=non_blocking)
    return tuple(move_text(part, device, non_blocking) for part in text)


class ContrastiveModel(nn.Module, ABC):
    """Two towers and a logit scale: learnable (init 1/0.07), or fixed when ``temperature`` is set
    (or after :meth:`fix_scale`).

    The learnable log scale is clamped to ``[0, ln max_logit_scale]`` after each optimiser step
    (:meth:`after_step`, as open_clip does), never in the forward pass: a clamp there would zero
    its gradient at the bound. A model class with ``max_logit_scale = None`` leaves it unclamped.
    """

    embed_dim: int
    max_logit_scale: float | None = MAX_LOGIT_SCALE
    image_prefixes: tuple[str, ...] = ()  # the image tower's parameter and state_dict key prefixes

    def __init__(self, embed_dim: int, temperature: float | None = None,
                 init_temperature: float = 0.07):
        super().__init__()
        self.embed_dim = embed_dim
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
        """``exp(log_scale)``."""
        return self.log_scale.exp()

    @property
    def logit_bias(self) -> nn.Parameter | None:
        """The learnable logit bias of the sigmoid loss (:meth:`add_logit_bias`); ``None`` without."""
        return self._parameters.get("sigmoid_bias")

    def add_logit_bias(self, bias: float, scale: float) -> None:
        """Give a model without a logit bias SigLIP's start: a learnable bias ``bias`` and a
        learnable logit scale set to ``scale`` (a fixed ``temperature`` is kept; a model with a
        bias of its own keeps both)."""
        if self.logit_bias is not None:
            return
        self.register_parameter("sigmoid_bias", nn.Parameter(torch.tensor(float(bias), device=self.device)))
        if isinstance(self.log_scale, nn.Parameter):
            with torch.no_grad():
                self.log_scale.fill_(math.log(scale))

    def fix_scale(self) -> None:
        """Make a learnable logit scale a fixed buffer at its current value: for a loss that never
        uses it (the triplet loss), where it would be a parameter without a gradient, which
        DistributedDataParallel rejects."""
        if isinstance(self.log_scale, nn.Parameter):
            value = self.log_scale.detach().clone()
            del self.log_scale
            self.register_buffer("log_scale", value)

    def after_step(self) -> None:
        """Clamp a learnable log scale to ``[0, ln max_logit_scale]`` (call after each step)."""
        if isinstance(self.log_scale, nn.Parameter) and self.max_logit_scale is not None:
            with torch.no_grad():
                self.log_scale.clamp_(0.0, math.log(self.max_logit_scale))

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        """Optimiser parameter groups at ``lr``, in the module's parameter order: the trainable
        parameters of the ``"image"`` and ``"text"`` towers (:meth:`tower_parameters`; the loop
        scales the image group's rate by ``image_lr_scale``), a learnable ``"logit_scale"`` and a
        ``"logit_bias"`` (:meth:`add_logit_bias`)."""
        towers = {id(p): name for name, params in self.tower_parameters().items() for p in params}
        groups: dict[str, dict[str, Any]] = {}
        for param in self.parameters():
            if param.requires_grad:
                name = ("logit_scale" if param is self.log_scale else
                        "logit_bias" if param is self.logit_bias else towers[id(param)])
                groups.setdefault(name, {"params": [], "lr": lr, "name": name})["params"].append(param)
        return list(groups.values())

    def tower_parameters(self) -> dict[str, list[nn.Parameter]]:
        """``{"image": [...], "text": [...]}``: the parameters whose names start with
        ``image_prefixes`` are the image tower, every other one but the logit scale and bias the
        caption tower (frozen ones included)."""
        if not self.image_prefixes:
            raise NotImplementedError(f"{type(self).__name__} does not name its image tower: set "
                                      "image_prefixes (its parameter name prefixes)")
        towers: dict[str, list[nn.Parameter]] = {"image": [], "text": []}
        for name, param in self.named_parameters():
            if param is not self.log_scale and param is not self.logit_bias:
                towers["image" if name.startswith(self.image_prefixes) else "text"].append(param)
        return towers

    def load_image_tower(self, state_dict: dict[str, torch.Tensor]) -> None:
        """Load the image tower's entries of ``state_dict`` (keys starting with ``image_prefixes``:
        weights and batch-norm statistics), nothing else; one error when they do not fit."""
        tower = {k: v for k, v in state_dict.items() if k.startswith(self.image_prefixes)}
        result = self.load_state_dict(tower, strict=False)
        missing = [k for k in result.missing_keys if k.startswith(self.image_prefixes)]
        if not tower or missing or result.unexpected_keys:
            raise ValueError(f"the saved image tower does not fit this {type(self).__name__}: "
                             f"missing {missing or sorted(self.image_prefixes)}, "
                             f"unexpected {result.unexpected_keys}")

    def image_transform(self, train: bool = False) -> tuple[PrepareFn | None, TensorFn]:
        """``(prepare, tensor)``: no geometric part and :func:`to_uint8_tensor` by default."""
        return None, to_uint8_tensor

    def pixel_mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]] | None:
        """The per-channel mean and std the image tower expects its [0, 1] pixels normalised by
        (CLIP's, ImageNet's), or ``None`` for none (the toy CNN)."""
        return None

    def pixels(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images as the image tower reads them: uint8 images scaled to [0, 1] in
        float32 and normalised by :meth:`pixel_mean_std`, on their own device, with the operations
        of torchvision's ``ToTensor`` and ``Normalize`` (so the same values, bit for bit, on the
        CPU); float images pass unchanged."""
        if images.dtype != torch.uint8:
            return images
        x = images.float().div(255)
        norm = self.pixel_mean_std()
        if norm is not None:
            mean, std = (torch.as_tensor(v, dtype=x.dtype, device=x.device).view(-1, 1, 1) for v in norm)
            x = x.sub(mean).div(std)
        return x

    def rebuild_info(self) -> dict[str, Any]:
        """JSON-ready data needed to rebuild this model (besides the config); none by default."""
        return {}

    @abstractmethod
    def image_embedding(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` -> the image tower's ``(B, D)`` output, before normalisation."""

    @abstractmethod
    def text_embedding(self, text: Any) -> torch.Tensor:
        """A text input (:meth:`text_tokenizer`) -> the caption tower's ``(B, D)`` output."""

    @abstractmethod
    def text_tokenizer(self) -> Tokenizer:
        """A picklable callable: ``captions`` -> the model's text input on the CPU."""

    def text_to_device(self, text: Any, non_blocking: bool = False) -> Any:
        """A text input made by :meth:`text_tokenizer`, moved to the model's device."""
        return move_text(text, self.device, non_blocking)

    def tokenize(self, captions: list[str]) -> Any:
        """``captions`` -> the model's text input on its device."""
        return self.text_to_device(self.text_tokenizer()(captions))

    def encode_image(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` (uint8, or float as :meth:`pixels` makes it) -> L2-normalised ``(B, D)``."""
        return F.normalize(self.image_embedding(self.pixels(images)), dim=-1)

    def encode_text(self, text: Any) -> torch.Tensor:
        """Tokenised captions -> L2-normalised ``(B, D)``."""
        return F.normalize(self.text_embedding(text), dim=-1)

    def forward(self, images: torch.Tensor, text: Any) -> ModelOutput:
        return ModelOutput(self.encode_image(images), self.encode_text(text), self.logit_scale,
                           self.logit_bias)

"""The toy model for CPU training at 28-32 px: a small CNN and a GRU over a word vocabulary
(:mod:`.gru`).
``arch="efficientnet_lite0"`` swaps the CNN for an ImageNet-pretrained EfficientNet-Lite0
(:mod:`.imagenet`), the course's VSE++ analogue, at 64 px."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from ..transforms import ResizeTo, TensorFn, to_uint8_tensor
from .base import ContrastiveModel
from .gru import TEXT_POOLINGS, GRUTextEncoder, VocabularyCaptions
from .imagenet import EFFICIENTNET_LITE0, N_STAGES, EfficientNetTower
from .vocab import Vocabulary

if TYPE_CHECKING:
    from ..config import ExperimentConfig
    from ..corpus import Corpus


def _block(c_in: int, c_out: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(c_in, c_out, 3, padding=1), nn.BatchNorm2d(c_out),
                         nn.ReLU(inplace=True), nn.MaxPool2d(2))


class ToyImageEncoder(nn.Module):
    """A 2x2-patch stem, two conv blocks (conv, batch norm, ReLU, 2x2 max-pool) and a linear
    head over the flattened ``(S/8, S/8)`` map.

    Flattening (instead of global pooling) keeps *where* things are, which the position
    attribute and reading a row of digits both need. Input ``(B, 3, S, S)`` in [0, 1]. The
    convolutions run in channels-last memory format (about 25 % faster on a CPU).
    """

    def __init__(self, image_size: int = 32, embed_dim: int = 128, width: int = 16):
        super().__init__()
        self.features = nn.Sequential(
            nn.Conv2d(3, width, 2, stride=2), nn.BatchNorm2d(width), nn.ReLU(inplace=True),
            _block(width, 2 * width), _block(2 * width, 4 * width))
        side = image_size // 8
        self.head = nn.Linear(4 * width * side * side, embed_dim)
        self.features.to(memory_format=torch.channels_last)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = ((images - 0.5) / 0.25).contiguous(memory_format=torch.channels_last)
        return self.head(self.features(x).flatten(1))


TOY_ARCHS = ("", EFFICIENTNET_LITE0)  # "": the small CNN


class ToyDualEncoder(VocabularyCaptions, ContrastiveModel):
    """The toy world's dual encoder (model ``"toy"``; not CLIP, though trained as CLIP is): a CNN
    (or EfficientNet-Lite0) image tower and a GRU caption tower over a :class:`Vocabulary` built
    from the training captions; ``text_pooling`` is the GRU's pooling (:class:`GRUTextEncoder`)."""

    image_prefixes = ("image_encoder.",)

    def __init__(self, vocab: Vocabulary, image_size: int = 32, embed_dim: int = 128,
                 temperature: float | None = None, arch: str = "", pretrained: str = "",
                 frozen_stages: int = 0, text_pooling: str = "last"):
        super().__init__(embed_dim, temperature=temperature)
        self.vocab = vocab
        self.image_size = image_size
        self.image_encoder: nn.Module
        if arch == EFFICIENTNET_LITE0:
            self.image_encoder = EfficientNetTower(embed_dim, pretrained, frozen_stages)
            self.image_weights = self.image_encoder.weights
        else:
            self.image_encoder = ToyImageEncoder(image_size, embed_dim)
            self.image_weights = "random init"
        self.text_encoder = GRUTextEncoder(len(vocab), embed_dim, pooling=text_pooling)

    def rebuild_info(self) -> dict[str, Any]:
        # the words after <pad> and <unk>, and what the image tower started from
        return {"vocab": self.vocab.words[2:], "image_weights": self.image_weights}

    def image_transform(self, train: bool = False) -> tuple[ResizeTo, TensorFn]:
        """Resize to the model's resolution (toy world images already are), then to a uint8 tensor."""
        return ResizeTo(self.image_size), to_uint8_tensor

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor:
        return self.image_encoder(images)

    def text_embedding(self, text: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.text_encoder(*text)


def build_toy(config: "ExperimentConfig", train: "Corpus | None" = None,
              rebuild_info: dict[str, Any] | None = None) -> ToyDualEncoder:
    """A fresh :class:`ToyDualEncoder` with a vocabulary of ``train``'s captions, or one rebuilt from a
    checkpoint's ``rebuild_info`` (:meth:`ToyDualEncoder.rebuild_info`)."""
    if rebuild_info is not None:  # the weights come from the checkpoint
        model = ToyDualEncoder(Vocabulary(rebuild_info["vocab"]), config.image_size, config.embed_dim,
                        config.temperature, config.arch, "", config.frozen_stages,
                        config.text_pooling)
        model.image_weights = rebuild_info.get("image_weights", "random init")
        return model
    if train is None:
        raise ValueError("build_toy needs the training corpus (for the vocabulary) or a "
                         "checkpoint's rebuild_info")
    vocab = Vocabulary.build(c for caps in train.captions for c in caps)
    return ToyDualEncoder(vocab, config.image_size, config.embed_dim, config.temperature, config.arch,
                   config.pretrained, config.frozen_stages, config.text_pooling)


def check_toy_config(config: "ExperimentConfig") -> None:
    """The toy model's own checks of a config: its arch, an image size its CNN can take, the
    pretrained options only for the EfficientNet tower, and its caption pooling; one ``ValueError``
    each."""
    if config.text_pooling not in TEXT_POOLINGS:
        raise ValueError(f"text_pooling must be one of {TEXT_POOLINGS}, got {config.text_pooling!r}")
    if config.arch not in TOY_ARCHS:
        raise ValueError(f"arch must be one of {TOY_ARCHS}, got {config.arch!r}")
    if not config.arch and config.image_size % 8:
        raise ValueError(f"image_size must be a multiple of 8 for the toy CNN, got {config.image_size}")
    if not config.arch and (config.pretrained or config.frozen_stages):
        raise ValueError("pretrained and frozen_stages need a pretrained tower: "
                         f"arch={EFFICIENTNET_LITE0!r} (the toy CNN has no ImageNet weights)")
    if not 0 <= config.frozen_stages <= N_STAGES:
        raise ValueError(f"frozen_stages must be in [0, {N_STAGES}], got {config.frozen_stages}")
    if config.arch and config.image_size < 32:
        raise ValueError(f"{config.arch} needs image_size >= 32 (64 on a CPU), got {config.image_size}")

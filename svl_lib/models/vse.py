"""VSE++ behind the model contract, as the paper runs it (docs/paper.md, section 4).

Image tower: a torchvision ResNet (``arch``, default ResNet-152) without its classifier, 2048-d
average pool -> ``Linear(2048, embed_dim)`` (Xavier-uniform, bias 0), fine-tuned from step 0.
``pretrained="imagenet"`` starts from torchvision's default ImageNet weights (downloaded when
online, then cached); when they cannot be had it is an error saying how to get them (never a
silent random init); a file path loads a saved trunk ``state_dict`` (e.g. torchvision's file);
``""`` is random init, the explicit way to train the tower from scratch. What the tower started
from is recorded as ``image_weights`` in the checkpoint and the metrics.
Text tower: ``Embedding(vocab, 300)`` (uniform in [-0.1, 0.1]) -> 1-layer GRU with hidden size
``embed_dim``; the caption embedding is the hidden state at the last real token. The vocabulary is
built from the *training* captions only (words seen at least 4 times, the digits always in; the
reference code also counted the test captions), with the course's regex tokenizer instead of NLTK.
Temperature: learnable, initialised at 0.07. Transforms: training, random resized crop to 224 and
horizontal flip; evaluation, resize to 256 and centre crop to 224; ImageNet mean and std.
``arch="tiny"``: a three-layer CNN and a 32-d word embedding, for tests on a CPU.
"""
from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from torch import nn
from torchvision import models, transforms

from ..transforms import PrepareFn, RandomTransform, TensorFn, to_uint8_tensor
from .base import TINY, ContrastiveModel
from .imagenet import IMAGENET_MEAN, IMAGENET_STD
from .gru import GRUTextEncoder, VocabularyCaptions
from .vocab import Vocabulary

if TYPE_CHECKING:
    from ..config import ExperimentConfig
    from ..corpus import Corpus

DEFAULT_ARCH = "resnet152"
RESNETS = ("resnet18", "resnet34", "resnet50", "resnet101", "resnet152")
MIN_WORD_COUNT = 4


def _tiny_trunk() -> nn.Module:
    layers: list[nn.Module] = []
    for c_in, c_out in ((3, 16), (16, 32), (32, 64)):
        layers += [nn.Conv2d(c_in, c_out, 3, stride=4 if c_in == 3 else 2, padding=1),
                   nn.BatchNorm2d(c_out), nn.ReLU(inplace=True)]
    return nn.Sequential(*layers, nn.AdaptiveAvgPool2d(1), nn.Flatten())


def image_trunk(arch: str, pretrained: str) -> tuple[nn.Module, int, str]:
    """``(trunk, feature size, what its weights are)`` for ``arch`` and ``pretrained``."""
    if arch == TINY:
        if pretrained:
            raise ValueError(f"the tiny VSE++ has no pretrained weights; got pretrained={pretrained!r}")
        return _tiny_trunk(), 64, "random"
    if arch not in RESNETS:
        raise ValueError(f"VSE++ arch must be one of {RESNETS + (TINY,)}, got {arch!r}")
    trunk = getattr(models, arch)(weights=None)
    weights = "random"
    if pretrained == "imagenet":
        default = models.get_model_weights(arch).DEFAULT
        try:
            trunk.load_state_dict(default.get_state_dict(progress=False))
            weights = f"imagenet ({default})"
        except Exception as err:  # offline and not cached, or a broken download
            raise RuntimeError(
                f"pretrained='imagenet': the ImageNet weights of {arch} ({default}) are not "
                f"available ({type(err).__name__}: {err}). Run once on an online machine "
                "(torchvision caches them under ~/.cache/torch/hub/checkpoints), or download "
                f"{default.url} and pass its path as pretrained=...; pretrained='' trains the "
                "image tower from scratch") from None
    elif pretrained:
        path = Path(pretrained).expanduser()
        if not path.is_file():
            raise FileNotFoundError(f"pretrained={pretrained!r} is neither 'imagenet', '' nor a file")
        trunk.load_state_dict(torch.load(path, map_location="cpu", weights_only=True))
        weights = f"file {path.name}"
    features = trunk.fc.in_features
    trunk.fc = nn.Identity()
    return trunk, features, weights


class VSEPlusPlus(VocabularyCaptions, ContrastiveModel):
    """ResNet + linear projection, and a GRU over a word vocabulary."""

    image_prefixes = ("trunk.", "projection.")

    def __init__(self, vocab: Vocabulary, arch: str, pretrained: str, embed_dim: int,
                 temperature: float | None = None):
        super().__init__(embed_dim, temperature=temperature, init_temperature=0.07)
        self.vocab, self.arch = vocab, arch
        self.trunk, features, self.image_weights = image_trunk(arch, pretrained)
        self.projection = nn.Linear(features, embed_dim)
        nn.init.xavier_uniform_(self.projection.weight)
        nn.init.zeros_(self.projection.bias)
        word_dim = 32 if arch == TINY else 300
        self.text_encoder = GRUTextEncoder(len(vocab), embed_dim, word_dim=word_dim, head=False)
        nn.init.uniform_(self.text_encoder.embed.weight, -0.1, 0.1)

    def image_transform(self, train: bool = False) -> tuple[PrepareFn, TensorFn]:
        prepare = (RandomTransform(transforms.Compose([transforms.RandomResizedCrop(224),
                                                       transforms.RandomHorizontalFlip()]))
                   if train else transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)]))
        return prepare, to_uint8_tensor

    def pixel_mean_std(self) -> tuple[tuple[float, ...], tuple[float, ...]]:
        return IMAGENET_MEAN, IMAGENET_STD

    def param_groups(self, lr: float) -> list[dict[str, Any]]:
        image = [*self.trunk.parameters(), *self.projection.parameters()]
        groups = [{"params": image, "lr": lr, "name": "image"},
                  {"params": list(self.text_encoder.parameters()), "lr": lr, "name": "text"}]
        if self.log_scale.requires_grad:
            groups.append({"params": [self.log_scale], "lr": lr, "name": "logit_scale"})
        return groups

    def rebuild_info(self) -> dict[str, Any]:
        return {"vocab": self.vocab.words[2:], "image_weights": self.image_weights}

    def image_embedding(self, images: torch.Tensor) -> torch.Tensor:
        return self.projection(self.trunk(images))

    def text_embedding(self, text: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        return self.text_encoder(*text)


def build_vse(config: "ExperimentConfig", train: "Corpus | None" = None,
              rebuild_info: dict[str, Any] | None = None) -> VSEPlusPlus:
    """A fresh VSE++ with a vocabulary of ``train``'s captions, or the bare architecture rebuilt
    from a checkpoint's ``rebuild_info`` (nothing is downloaded: the weights come from the checkpoint)."""
    arch = config.arch or DEFAULT_ARCH
    if rebuild_info is not None:
        model = VSEPlusPlus(Vocabulary(rebuild_info["vocab"]), arch, "", config.embed_dim, config.temperature)
        model.image_weights = rebuild_info["image_weights"]
        return model
    if train is None:
        raise ValueError("build_vse needs the training corpus (for the vocabulary) or a "
                         "checkpoint's rebuild_info")
    vocab = Vocabulary.build((c for caps in train.captions for c in caps), min_count=MIN_WORD_COUNT)
    return VSEPlusPlus(vocab, arch, config.pretrained, config.embed_dim, config.temperature)

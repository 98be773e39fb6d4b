"""Image transforms, shared by the data side (which decodes and prepares images) and the models
(each says how its images are prepared): the types of a geometric ``prepare`` step (PIL image ->
PIL image) and of a ``tensor`` step (PIL image -> tensor), the uint8 tensor the workers send, the
decode size a ``prepare`` allows, and the picklable resize and seeded random transforms.
"""
from __future__ import annotations

from typing import Callable

import numpy as np
import torch
from PIL import Image
from torchvision import transforms

PrepareFn = Callable[[Image.Image], Image.Image]
TensorFn = Callable[[Image.Image], torch.Tensor]


def to_uint8_tensor(image: Image.Image) -> torch.Tensor:
    """An image as a ``(3, H, W)`` uint8 tensor (other modes converted to RGB first): what the
    DataLoader workers send, a quarter of float32's bytes through shared memory and the copy to the
    GPU; the model scales (and normalises) it on its device
    (:meth:`~svl_lib.models.base.ContrastiveModel.pixels`), to the values of torchvision's ``ToTensor``."""
    if image.mode != "RGB":
        image = image.convert("RGB")
    return torch.from_numpy(np.array(image, dtype=np.uint8)).permute(2, 0, 1).contiguous()


def decode_side(prepare: PrepareFn | None) -> int | None:
    """The shorter side an image may be decoded at for ``prepare``: the size of the torchvision
    ``Resize`` (of the shorter side, to an int) that ``prepare`` starts with (CLIP's and VSE++'s
    evaluation transforms); ``None`` (full size) for anything else, e.g. a random crop of the full
    image or the toy models' square resize."""
    first = prepare.transforms[0] if isinstance(prepare, transforms.Compose) else prepare
    if not isinstance(first, transforms.Resize) or first.max_size is not None:
        return None
    size = first.size
    if isinstance(size, (list, tuple)):
        size = size[0] if len(size) == 1 else None
    return size if isinstance(size, int) else None


class ResizeTo:
    """A picklable geometric transform: resize to ``size`` x ``size`` (bilinear) unless the image
    already has that size."""

    def __init__(self, size: int):
        self.size = size

    def __call__(self, image: Image.Image) -> Image.Image:
        if image.size == (self.size, self.size):
            return image
        return image.resize((self.size, self.size), Image.Resampling.BILINEAR)


class RandomTransform:
    """A random geometric transform (e.g. random crop and flip) made reproducible: ``(image, key)``
    runs ``transform`` with torch's RNG seeded from ``key`` and leaves the global RNG as it was, so
    an item's augmentation depends on ``(seed, epoch, item)`` only, not on DataLoader workers or on
    where a run resumed. Picklable."""

    def __init__(self, transform: PrepareFn):
        self.transform = transform

    def __call__(self, image: Image.Image, key: tuple[int, ...] = (0,)) -> Image.Image:
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(int(np.random.SeedSequence(list(key)).generate_state(1)[0]))
            return self.transform(image)

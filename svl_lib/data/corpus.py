"""An image-caption corpus split: what every dataset (toy, COCO, Flickr30k) provides.

A :class:`Corpus` holds the images of one split and their captions (``captions[i]`` are the
captions of image ``i``; image indices are contiguous ``0..n_images-1`` within the split, which is
what the shortcut ids are built on). Optional ``labels`` map an attribute name to one integer
label per image (the toy world knows them; real datasets do not).
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np
from PIL import Image


@dataclass
class Corpus:
    """One split of an image-caption dataset.

    ``load_image(i)`` returns image ``i`` as an RGB PIL image. ``labels[attr]`` is an ``(n_images,)``
    int array indexing into ``attribute_values[attr]``.
    """

    name: str
    split: str
    captions: list[list[str]]
    load_image: Callable[[int], Image.Image]
    labels: dict[str, np.ndarray] = field(default_factory=dict)
    attribute_values: dict[str, tuple[str, ...]] = field(default_factory=dict)

    @property
    def n_images(self) -> int:
        return len(self.captions)

    @property
    def n_captions(self) -> int:
        return sum(len(c) for c in self.captions)

    def caption_index(self) -> list[tuple[int, int]]:
        """Every caption as ``(image_index, caption_k)``, image-major (the item order)."""
        return [(i, k) for i, caps in enumerate(self.captions) for k in range(len(caps))]

    def __repr__(self) -> str:
        return (f"Corpus({self.name!r}, split={self.split!r}, images={self.n_images:,}, "
                f"captions={self.n_captions:,})")


def array_loader(images: np.ndarray) -> Callable[[int], Image.Image]:
    """Loader over an in-memory ``(N, H, W, 3)`` uint8 array."""
    return lambda i: Image.fromarray(images[i])


def folder_loader(root: Path, filenames: list[str]) -> Callable[[int], Image.Image]:
    """Loader over image files ``root / filenames[i]``."""
    def load(i: int) -> Image.Image:
        with Image.open(root / filenames[i]) as im:
            return im.convert("RGB")
    return load

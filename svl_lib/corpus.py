"""An image-caption corpus split: what every dataset (toy, COCO, Flickr30k) provides.

A :class:`Corpus` holds the images of one split and their captions (``captions[i]`` are the
captions of image ``i``; image indices are contiguous ``0..n_images-1`` within the split, which is
what the shortcut ids are built on). Optional ``labels`` map an attribute name to one integer
label per image (the toy world knows them; real datasets do not).

Images are read by ``load_image``, a picklable callable (:class:`ArrayImages` over an in-memory
array, :class:`ImageFiles` over files), so a corpus, and a torch dataset holding one, can be sent to
DataLoader workers started with ``spawn`` (the default on macOS and Windows). Lambdas and closures
cannot be pickled: do not use them as ``load_image``.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
from PIL import Image, UnidentifiedImageError


SPLITS = ("train", "val", "test")  # the splits every dataset of the course has


@dataclass
class Corpus:
    """One split of an image-caption dataset.

    ``load_image(i)`` returns image ``i`` as an RGB PIL image (keep it picklable, see the module
    docstring). ``labels[attr]`` is an ``(n_images,)`` int array indexing into
    ``attribute_values[attr]``.
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


class ArrayImages:
    """``load_image`` over an in-memory uint8 array ``(N, H, W, 3)`` (or ``(N, H, W)`` grayscale):
    image ``i`` is ``images[i]`` as an RGB PIL image."""

    def __init__(self, images: np.ndarray):
        self.images = images

    def __call__(self, i: int) -> Image.Image:
        image = Image.fromarray(self.images[i])
        return image if image.mode == "RGB" else image.convert("RGB")

    def __len__(self) -> int:
        return len(self.images)

    def __repr__(self) -> str:
        return f"ArrayImages(shape={self.images.shape})"


class ImageFiles:
    """``load_image`` over image files: image ``i`` is ``root / filenames[i]``, read on each call
    and converted to RGB. A missing or unreadable file raises an error naming it."""

    def __init__(self, root: Path | str, filenames: Sequence[str]):
        self.root = Path(root)
        self.filenames = list(filenames)

    def __call__(self, i: int) -> Image.Image:
        path = self.root / self.filenames[i]
        try:
            with Image.open(path) as im:
                return im.convert("RGB")
        except FileNotFoundError as err:
            raise FileNotFoundError(
                f"image file {path} (image {i}) is missing: put the dataset's images under "
                f"{self.root} (see data/README.md in the course repository)") from err
        except (UnidentifiedImageError, OSError) as err:
            raise OSError(
                f"image file {path} (image {i}) cannot be read ({err}): replace it with the "
                "dataset's original file (re-download or re-extract the images)") from err

    def __len__(self) -> int:
        return len(self.filenames)

    def __repr__(self) -> str:
        return f"ImageFiles({str(self.root)!r}, {len(self.filenames):,} files)"

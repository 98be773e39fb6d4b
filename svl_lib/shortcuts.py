"""Synthetic shortcuts (Bleeker et al., TMLR 2024): one number written on the image and the caption.

The number is written in decimal, zero-padded to ``n_digits``, as handwritten digit tiles along the
top edge of the image and as digit tokens appended to the caption ("a red circle" -> "a red circle
0 0 4 2"). A model can then match an image and its captions by the number alone.

Items are caption-level: ``(image_index, item)`` where ``item`` is the caption index within the image;
an epoch visits each image once per caption. All randomness comes from numpy seed sequences
(``np.random.default_rng(key)`` or ``np.random.SeedSequence(key)``) keyed by ``(seed, stream, epoch,
image_index, item)`` in training and by ``(seed, stream, split, image_index)`` for the glyphs of an
evaluation rendering, so any item renders identically wherever and whenever it is drawn (DataLoader
workers included); no global random state is used.

An injector serves one split (``"train"``, ``"val"`` or ``"test"``). Evaluation renderings key their
glyphs by the split as well, so image ``i`` of the test split is not written with the same tiles as
image ``i`` of the train split (which, under the same seed, would let a probe match them by pixels).
For glyphs never seen in training, build evaluation injectors over the ``"eval"`` part of the glyph
bank (:func:`svl_lib.digits.load_glyph_bank`).

Modes:

* ``"none"``: no shortcut.
* ``"unique"``: every image of the split gets its own id. Training: ``(image_index + offset(epoch)) %
  n_images`` with an offset re-drawn every epoch (``rotate``), a bijection over the images in every
  epoch, so the ids carry no information across epochs. Evaluation: ``image_index``.
* ``"bits"``: a number in ``[0, 2**n_bits)``. Training: drawn afresh per item, so only ``n_bits`` bits
  of shortcut information are available. Evaluation: ``image_index % 2**n_bits``.
"""
from __future__ import annotations

import numpy as np
from PIL import Image

from svl_lib.corpus import SPLITS
from svl_lib.digits import GlyphBank
from svl_lib.shortcut_spec import ShortcutSpec

_SPLIT_TAGS = {"train": 0, "val": 1, "test": 2}  # the split's element in evaluation glyph keys
_DIGITS = frozenset("0123456789")  # the caption's digit tokens

# Stream tags keep the seeded generators of different purposes independent.
_STREAM_OFFSET = 0  # (seed, tag, epoch): unique-mode offset of an epoch
_STREAM_ITEM = 1  # (seed, tag, epoch, image_index, item): whether the item carries it, bits number
_STREAM_GLYPHS = 2  # (seed, tag, epoch, image_index, item): glyph choice in training
_STREAM_GLYPHS_EVAL = 3  # (seed, tag, split_tag, image_index): glyph choice in evaluation


def split_digits(caption: str) -> tuple[str, str]:
    """``(text, digits)``: a caption split before its trailing run of single-digit tokens, the
    shortcut that :meth:`ShortcutInjector.render_caption` appends (``"a dog 0 0 4 2"`` ->
    ``("a dog", "0 0 4 2")``; ``(caption, "")`` when it ends in none). A tokenizer that must cut
    a long caption cuts ``text`` and keeps ``digits``. A caption that itself ends in single digits
    keeps those too."""
    words = caption.split(" ")
    cut = len(words)
    while cut > 0 and words[cut - 1] in _DIGITS:
        cut -= 1
    return " ".join(words[:cut]), " ".join(words[cut:])


class ShortcutInjector:
    """Writes a spec's shortcut onto (image, caption) items of one split of ``n_images`` images.

    Images are PIL images (RGB or L) or numpy uint8 arrays (H, W) / (H, W, 3); a rendering returns
    the input's type and never modifies the input. Apply it after resizing to the model resolution:
    the tile size follows the image height, and the bank caches tiles per size.

    ``evaluation=True`` gives the fixed evaluation rendering: every item carries the shortcut, and
    the number and glyphs depend on the image (and the split) only. ``split`` names the split the
    injector serves; evaluation glyphs are drawn per split, so the splits' renderings do not repeat
    each other. Training renderings do not depend on ``split``.
    """

    def __init__(
        self,
        spec: ShortcutSpec,
        n_images: int,
        bank: GlyphBank,
        seed: int,
        evaluation: bool = False,
        *,
        split: str = "train",
    ) -> None:
        spec.validate(n_images)
        if seed < 0:
            raise ValueError(f"seed={seed} must be >= 0")
        if split not in _SPLIT_TAGS:
            raise ValueError(f"split={split!r} is unknown: use one of {', '.join(map(repr, SPLITS))}")
        pools = tuple(bank.indices_of(d) for d in range(10))
        missing = [d for d, pool in enumerate(pools) if len(pool) == 0]
        if spec.mode != "none" and missing:
            raise ValueError(f"glyph bank {bank.name!r} has no glyph for digits {missing}")
        self.spec = spec
        self.n_images = n_images
        self.bank = bank
        self.seed = seed
        self.evaluation = evaluation
        self.split = split
        self._pools = tuple(pool.tolist() for pool in pools)
        self._offsets: dict[int, int] = {}

    def _offset(self, epoch: int) -> int:
        """Unique mode: the id offset of a training epoch (0 without rotation)."""
        offset = self._offsets.get(epoch)
        if offset is None:
            if self.spec.rotate:
                rng = np.random.default_rng([self.seed, _STREAM_OFFSET, epoch])
                offset = int(rng.integers(self.n_images))
            else:
                offset = 0
            self._offsets[epoch] = offset
        return offset

    def number(self, image_index: int, epoch: int = 0, item: int = 0) -> int | None:
        """The shortcut number of an item, or None when the item carries no shortcut."""
        spec = self.spec
        if spec.mode == "none":
            return None
        if not 0 <= image_index < self.n_images:
            raise IndexError(f"image_index={image_index} outside the split's 0..{self.n_images - 1}")
        if self.evaluation:
            return image_index if spec.mode == "unique" else image_index % 2**spec.n_bits
        if spec.mode == "unique" and spec.p == 1.0:  # the common case needs no generator
            return (image_index + self._offset(epoch)) % self.n_images
        rng = np.random.default_rng([self.seed, _STREAM_ITEM, epoch, image_index, item])
        if rng.random() >= spec.p:  # drawn first even when p = 1, so a bits number does not depend on p
            return None
        if spec.mode == "unique":
            return (image_index + self._offset(epoch)) % self.n_images
        return int(rng.integers(2**spec.n_bits))

    def digits(self, number: int) -> str:
        """``number`` zero-padded to ``n_digits`` decimal digits, e.g. ``"0042"``."""
        if not 0 <= number < 10**self.spec.n_digits:
            raise ValueError(f"number={number} cannot be written in n_digits={self.spec.n_digits} digits")
        return f"{number:0{self.spec.n_digits}d}"

    def render_image(
        self,
        image: Image.Image | np.ndarray,
        number: int,
        image_index: int,
        epoch: int = 0,
        item: int = 0,
    ) -> Image.Image | np.ndarray:
        """A copy of ``image`` with ``number`` pasted as glyph tiles along its top edge.

        Tiles are ``round(tile_fraction * height)`` px squares (at least 1) at ``x = i * (width //
        n_digits)``, ``y = 0``, pasted raw (white on black, no blending). The glyph of each digit is
        drawn from a seed sequence keyed by ``(seed, epoch, image_index, item)`` in training and by
        ``(seed, split, image_index)`` in evaluation.
        """
        if isinstance(image, np.ndarray):
            return np.array(self.render_image(Image.fromarray(image), number, image_index, epoch, item))
        text = self.digits(number)
        width, height = image.size
        tile = max(1, round(self.spec.tile_fraction * height))
        if len(text) * tile > width:
            raise ValueError(
                f"{len(text)} digit tiles of {tile} px do not fit an image {width} px wide: "
                "lower tile_fraction or n_digits"
            )
        if self.evaluation:
            key = [self.seed, _STREAM_GLYPHS_EVAL, _SPLIT_TAGS[self.split], image_index]
        else:
            key = [self.seed, _STREAM_GLYPHS, epoch, image_index, item]
        # One uniform 32-bit word per digit straight from the seed sequence (cheaper than a Generator).
        words = np.random.SeedSequence(key).generate_state(len(text)).tolist()
        tiles = self.bank.tiles(tile)
        step = width // len(text)
        out = image.copy()
        for i, (char, word) in enumerate(zip(text, words)):
            pool = self._pools[int(char)]
            out.paste(tiles[pool[(word * len(pool)) >> 32]], (i * step, 0))
        return out

    def render_caption(self, caption: str, number: int) -> str:
        """``caption`` followed by the digits as separate tokens, e.g. ``"a red circle 0 0 4 2"``."""
        return caption + " " + " ".join(self.digits(number))

    def __call__(
        self,
        image: Image.Image | np.ndarray,
        caption: str,
        image_index: int,
        epoch: int = 0,
        item: int = 0,
    ) -> tuple[Image.Image | np.ndarray, str, int | None]:
        """``(image, caption, number)`` with the shortcut applied per ``on_image`` / ``on_caption``.

        Both carry the same number; without a shortcut (number None) the inputs are returned as is.
        """
        number = self.number(image_index, epoch, item)
        if number is None:
            return image, caption, None
        if self.spec.on_image:
            image = self.render_image(image, number, image_index, epoch, item)
        if self.spec.on_caption:
            caption = self.render_caption(caption, number)
        return image, caption, number

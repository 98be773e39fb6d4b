"""Glyph banks: handwritten digit images used to write shortcut numbers onto images.

A :class:`GlyphBank` holds ``G`` grayscale glyphs (white digit on black) with their labels. Two
sources exist:

* ``"mnist"``: the MNIST digits (28x28), read from torchvision's files under the data root
  (:func:`svl_lib.paths.data_dir`). They are never downloaded implicitly; call
  :func:`download_mnist` once on a machine with internet access (or copy the files there).
* ``"sklearn-digits"``: scikit-learn's bundled 8x8 digits (1,797 glyphs); always available offline.

:func:`load_glyph_bank` picks one by name, or ``"auto"``: MNIST when its files are present, else the
scikit-learn digits.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
from PIL import Image

from svl_lib import paths

logger = logging.getLogger(__name__)

_MNIST_RAW_FILES = (
    "train-images-idx3-ubyte",
    "train-labels-idx1-ubyte",
    "t10k-images-idx3-ubyte",
    "t10k-labels-idx1-ubyte",
)
_MNIST_LEGACY_FILES = ("training.pt", "test.pt")  # older torchvision releases' processed files
_BANK_NAMES = ("auto", "mnist", "sklearn")


@dataclass(frozen=True, eq=False)
class GlyphBank:
    """Digit glyphs: ``images`` (G, h, w) uint8 in 0..255, white on black; ``labels`` (G,) int64 0..9.

    Resized tiles are cached per size, so a bank is meant to be built once and shared. Pickling
    (e.g. into spawned DataLoader workers) leaves the cache out; each process rebuilds it on use.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    _by_label: tuple[np.ndarray, ...] = field(init=False, repr=False)
    _tiles: dict[int, list[Image.Image]] = field(init=False, repr=False, default_factory=dict)

    def __post_init__(self) -> None:
        images = np.ascontiguousarray(self.images, dtype=np.uint8)
        labels = np.asarray(self.labels, dtype=np.int64)
        if images.ndim != 3:
            raise ValueError(f"images must have shape (G, h, w), got {images.shape}")
        if labels.shape != images.shape[:1]:
            raise ValueError(f"labels must have shape ({images.shape[0]},), got {labels.shape}")
        if labels.size and (labels.min() < 0 or labels.max() > 9):
            raise ValueError("labels must lie in 0..9")
        object.__setattr__(self, "images", images)
        object.__setattr__(self, "labels", labels)
        by_label = tuple(np.flatnonzero(labels == d) for d in range(10))
        object.__setattr__(self, "_by_label", by_label)

    def __getstate__(self) -> dict:
        return {**self.__dict__, "_tiles": {}}

    def __len__(self) -> int:
        return len(self.labels)

    def indices_of(self, digit: int) -> np.ndarray:
        """Indices (into ``images``) of the glyphs labelled ``digit``; precomputed, do not modify."""
        if not 0 <= digit <= 9:
            raise ValueError(f"digit must be in 0..9, got {digit}")
        return self._by_label[digit]

    def tiles(self, size: int) -> list[Image.Image]:
        """All glyphs as ``size`` x ``size`` RGB PIL images (index-aligned with ``images``).

        Computed on the first call for a size and cached; later calls return the same list. Do not
        modify the tiles. Memory: about ``4 * size**2`` bytes per glyph (MNIST train, 28 px: ~190 MB).
        """
        cached = self._tiles.get(size)
        if cached is not None:
            return cached
        if size < 1:
            raise ValueError(f"tile size must be >= 1, got {size}")
        tiles = []
        for glyph in self.images:
            tile = Image.fromarray(glyph)
            if tile.size != (size, size):
                tile = tile.resize((size, size), Image.Resampling.BILINEAR)
            tiles.append(tile.convert("RGB"))
        self._tiles[size] = tiles
        return tiles


def sklearn_digits_bank() -> GlyphBank:
    """The 1,797 8x8 digits bundled with scikit-learn (values 0..16 rescaled to 0..255); offline."""
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return GlyphBank("sklearn-digits", images, digits.target.astype(np.int64))


def _mnist_raw_dir(root: Path) -> Path:
    return root / "MNIST" / "raw"


def mnist_present(root: Path | None = None) -> bool:
    """Whether torchvision's MNIST files lie under ``root`` (default: the data root).

    That is the four raw files in ``root/MNIST/raw``, or the legacy ``root/MNIST/processed`` files.
    """
    raw = _mnist_raw_dir(Path(root) if root is not None else paths.data_dir())
    processed = raw.parent / "processed"
    return all((raw / name).is_file() for name in _MNIST_RAW_FILES) or all(
        (processed / name).is_file() for name in _MNIST_LEGACY_FILES
    )


def mnist_bank(root: Path | None = None, train: bool = True) -> GlyphBank:
    """MNIST train (60,000) or test (10,000) digits read from ``root/MNIST/raw`` without downloading.

    Raises FileNotFoundError when the files are missing.
    """
    root = Path(root) if root is not None else paths.data_dir()
    if not mnist_present(root):
        raise FileNotFoundError(
            f"MNIST files not found in {_mnist_raw_dir(root)} (expected {', '.join(_MNIST_RAW_FILES)}). "
            "Call svl_lib.digits.download_mnist() on a machine with internet access, or copy the "
            "files there; set SVL_DATA_DIR to use another data root."
        )
    from torchvision.datasets import MNIST

    dataset = MNIST(str(root), train=train, download=False)
    return GlyphBank("mnist", dataset.data.numpy(), dataset.targets.numpy())


def download_mnist(root: Path | None = None) -> Path:
    """Download MNIST into ``root/MNIST/raw`` (default: the data root) and return ``root``.

    Needs internet access; nothing in the library calls this implicitly.
    """
    from torchvision.datasets import MNIST

    root = Path(root) if root is not None else paths.data_dir()
    root.mkdir(parents=True, exist_ok=True)
    MNIST(str(root), train=True, download=True)  # fetches the train and test files
    return root


def load_glyph_bank(name: str = "auto", root: Path | None = None, train: bool = True) -> GlyphBank:
    """Load a glyph bank by name: ``"mnist"``, ``"sklearn"`` (alias ``"sklearn-digits"``) or ``"auto"``.

    ``"auto"`` uses MNIST when its files are under ``root`` (default: the data root), else the
    scikit-learn digits. ``train`` picks the MNIST split (ignored for the scikit-learn digits). The
    bank in use is logged and available as ``bank.name``.
    """
    key = "sklearn" if name == "sklearn-digits" else name
    if key not in _BANK_NAMES:
        raise ValueError(f"unknown glyph bank {name!r}: use one of {', '.join(map(repr, _BANK_NAMES))}")
    if key == "auto":
        key = "mnist" if mnist_present(root) else "sklearn"
    bank = mnist_bank(root, train=train) if key == "mnist" else sklearn_digits_bank()
    logger.info("glyph bank %r: %d glyphs of %dx%d px", bank.name, len(bank), *bank.images.shape[1:])
    return bank

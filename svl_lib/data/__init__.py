"""Datasets by name: ``DATASETS[name]`` says how a run loads a split, which shortcut defaults suit
its images and how its test split is scored. Adding a dataset means adding an entry here, nothing
in the orchestration.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from ..paths import data_dir
from ..corpus import Corpus
from .karpathy import karpathy_files, read_karpathy
from .toy import ToyWorld

if TYPE_CHECKING:
    from ..config import ExperimentConfig


@dataclass(frozen=True)
class DatasetEntry:
    """``load(config, split)`` returns the split's :class:`Corpus`; ``sizes(config)`` the number of
    images per split when it is known without loading (``None`` otherwise), so that a config can be
    checked before anything is built; ``shortcut_defaults`` fills the config's ``None`` shortcut
    fields (e.g. ``n_digits``, ``tile_fraction``) for this dataset's images
    (:func:`svl_lib.experiments.registries.resolve`); ``eval_folds`` > 1 adds a second protocol to the metrics:
    the evaluation split scored in that many folds, averaged (COCO's 5 x 1k)."""

    load: Callable[["ExperimentConfig", str], Corpus]
    sizes: Callable[["ExperimentConfig"], dict[str, int] | None]
    shortcut_defaults: dict[str, Any] = field(default_factory=dict)
    eval_folds: int = 1


def _toy_world(config: "ExperimentConfig") -> ToyWorld:
    return ToyWorld(config.n_train, config.n_val, config.n_test, config.image_size, config.data_seed)


def _toy_sizes(config: "ExperimentConfig") -> dict[str, int]:
    return {"train": config.n_train, "val": config.n_val, "test": config.n_test}


def karpathy_root(config: "ExperimentConfig") -> Path:
    """A Karpathy dataset's folder: the config's ``data_root``, else ``$SVL_DATA_DIR/<dataset>``."""
    return Path(config.data_root).expanduser() if config.data_root else data_dir() / config.dataset


def _karpathy_split(config: "ExperimentConfig", split: str) -> Corpus:
    root = karpathy_root(config)
    if not root.is_dir():
        raise FileNotFoundError(
            f"data root {root} of dataset {config.dataset!r} not found: run `python -m "
            f"svl_lib.data.prepare {config.dataset}` on a machine with internet, or set SVL_DATA_DIR "
            "(or the config's data_root) to the folder holding its JSON and images/")
    return read_karpathy(*karpathy_files(root, config.dataset), split, draft=config.jpeg_draft)


# 224-px photos, as in the paper: six 28-px MNIST tiles along the top edge (12.5% of the height)
_PHOTO_SHORTCUT = {"n_digits": 6, "tile_fraction": 0.125}

DATASETS: dict[str, DatasetEntry] = {
    # 28-32 px images: four digits in tiles of a quarter of the height (8 px at 32 px)
    "toy": DatasetEntry(lambda config, split: _toy_world(config).split(split), _toy_sizes,
                        {"n_digits": 4, "tile_fraction": 0.25}),
    "coco": DatasetEntry(_karpathy_split, lambda config: None, _PHOTO_SHORTCUT, eval_folds=5),
    "flickr30k": DatasetEntry(_karpathy_split, lambda config: None, _PHOTO_SHORTCUT),
}


def load_split(config: "ExperimentConfig", split: str) -> Corpus:
    """The ``split`` of ``config.dataset``."""
    return DATASETS[config.dataset].load(config, split)

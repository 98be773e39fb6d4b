"""Datasets by name: ``DATASETS[name]`` says how a run loads a split and which shortcut defaults
suit its images. Adding a dataset means adding an entry here, nothing in the orchestration.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .corpus import Corpus
from .toy import ToyWorld

if TYPE_CHECKING:
    from ..config import ExperimentConfig


@dataclass(frozen=True)
class DatasetEntry:
    """``load(config, split)`` returns the split's :class:`Corpus`; ``sizes(config)`` the number of
    images per split when it is known without loading (``None`` otherwise), so that a config can be
    checked before anything is built; ``shortcut_defaults`` fills the config's ``None`` shortcut
    fields (e.g. ``n_digits``, ``tile_fraction``) for this dataset's images."""

    load: Callable[["ExperimentConfig", str], Corpus]
    sizes: Callable[["ExperimentConfig"], dict[str, int] | None]
    shortcut_defaults: dict[str, Any] = field(default_factory=dict)


def _toy_world(config: "ExperimentConfig") -> ToyWorld:
    return ToyWorld(config.n_train, config.n_val, config.n_test, config.image_size, config.data_seed)


def _toy_sizes(config: "ExperimentConfig") -> dict[str, int]:
    return {"train": config.n_train, "val": config.n_val, "test": config.n_test}


DATASETS: dict[str, DatasetEntry] = {
    # 28-32 px images: four digits in tiles of a quarter of the height (8 px at 32 px)
    "toy": DatasetEntry(lambda config, split: _toy_world(config).split(split), _toy_sizes,
                        {"n_digits": 4, "tile_fraction": 0.25}),
}


def load_split(config: "ExperimentConfig", split: str) -> Corpus:
    """The ``split`` of ``config.dataset``."""
    return DATASETS[config.dataset].load(config, split)

"""The data side of a run (:class:`RunData`), built from a resolved config before anything trains
(:func:`build_data`)."""
from __future__ import annotations

from dataclasses import dataclass

from ..config import ExperimentConfig
from ..data import load_split
from ..corpus import Corpus
from ..digits import GlyphBank, load_glyph_bank
from ..shortcuts import ShortcutInjector


@dataclass
class RunData:
    """The data side of a run, built before anything trains: the training and evaluation
    splits, the glyph banks (training and evaluation glyphs, disjoint) and every injector of the
    run's plan (:meth:`ExperimentConfig.injector_plan`), each built once."""

    train: Corpus
    eval: Corpus
    banks: tuple[GlyphBank, GlyphBank]
    train_injector: ShortcutInjector | None
    eval_injector: ShortcutInjector
    probe_injector: ShortcutInjector | None  # the evaluation shortcut on the train split


def build_data(config: ExperimentConfig) -> RunData:
    """Load the splits and build every injector of the run's plan (a spec that cannot serve a
    split raises ``ValueError`` here, before training): the training one with the training
    glyphs, the evaluation one on the evaluation split with the evaluation glyphs, the probes' on
    the train split with the training glyphs."""
    splits = {"train": load_split(config, "train"), config.eval_split: load_split(config, config.eval_split)}
    banks = (load_glyph_bank(config.glyph_bank, part="train"),
             load_glyph_bank(config.glyph_bank, part="eval"))
    injectors = {purpose: ShortcutInjector(spec, splits[split].n_images, banks[split != "train"],
                                           config.seed, evaluation=purpose != "training", split=split)
                 for spec, split, purpose in config.injector_plan()}
    return RunData(splits["train"], splits[config.eval_split], banks, injectors.get("training"),
                   injectors["evaluation"], injectors.get("probe"))

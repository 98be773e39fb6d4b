"""What the course's notebooks share: run folders named after what they train.

``run_folder, train_or_load = notebook_runs(RUNS, reuse=REUSE_RUNS)`` gives a notebook its two
helpers: ``run_folder(name, config)`` is ``RUNS / "<name>-<config key>"`` (a readable name plus the
hash of the fields that define training, :func:`~svl_lib.experiments.run_folders.keyed_folder`), so a changed
parameter trains a run of its own and an unchanged one is reused; ``train_or_load(config, name)``
trains that run, or with ``reuse`` loads it when it finished (:func:`~svl_lib.experiments.experiment.run_or_load`).
:func:`keyed_sweep` does the same for a whole grid, and :func:`bits_sweep` is notebook 02's
shortcut-strength sweep, whose run folders notebook 07 reads too. :func:`run_features` encodes a
finished run's evaluation split for the retrieval pictures (:mod:`svl_lib.course.gallery`).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import pandas as pd

from ..config import ExperimentConfig
from ..evaluate.conditions import Features, encode_conditions
from ..experiments.checkpoints import load_model
from ..experiments.experiment import run_or_load
from ..paths import runs_dir
from ..experiments.registries import resolve
from ..experiments.results import collect_probes
from ..experiments.run_data import RunData, build_data
from ..experiments.run_folders import keyed_folder, read_config
from ..experiments.plan import Grid
from ..experiments.sweep import run_sweep

FolderFn = Callable[[str, ExperimentConfig], Path]
TrainFn = Callable[[ExperimentConfig, str], dict[str, Any]]
STRENGTH_NOTEBOOK = "02_shortcut_strength"  # the run folders of notebook 02, under $SVL_RUNS_DIR


def notebook_runs(root: Path | str, reuse: bool = True) -> tuple[FolderFn, TrainFn]:
    """``(run_folder, train_or_load)`` over the run folders under ``root`` (see the module docstring)."""
    def run_folder(name: str, config: ExperimentConfig) -> Path:
        return keyed_folder(root, name, resolve(config))

    def train_or_load(config: ExperimentConfig, name: str) -> dict[str, Any]:
        return run_or_load(config, run_folder(name, config), reuse=reuse)

    return run_folder, train_or_load


def keyed_sweep(root: Path | str, name: str, base: ExperimentConfig, grid: Grid,
                reuse: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Run (or load) every point of ``grid`` under ``root / "<name>-<base key>"`` (a changed base
    gets new folders): the retrieval table of those runs (:func:`~svl_lib.experiments.sweep.run_sweep`) and
    their probe table (:func:`~svl_lib.experiments.results.collect_probes`)."""
    folder = keyed_folder(root, name, resolve(base))
    runs = run_sweep(base, grid, folder, reuse=reuse, log=None)
    probes = collect_probes(folder)
    return runs, probes[probes["run"].isin(set(runs["run"]))].reset_index(drop=True)


def bits_sweep(base: ExperimentConfig, n_bits: Sequence[int],
               reuse: bool = True) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Notebook 02's sweep of the shortcut's strength: ``base`` with ``shortcut_mode="bits"`` over
    ``n_bits``, in ``$SVL_RUNS_DIR/02_shortcut_strength/bits-<key>`` (:func:`keyed_sweep`)."""
    return keyed_sweep(runs_dir() / STRENGTH_NOTEBOOK, "bits", base.replace(shortcut_mode="bits"),
                       {"n_bits": list(n_bits)}, reuse)


def run_features(run_dir: Path | str, conditions: Sequence[str] = ("clean", "shortcut"),
                 device: str = "cpu") -> tuple[Features, RunData]:
    """The finished run's evaluation split encoded by its model on ``device`` under ``conditions``
    (each image and caption once, as its evaluation did), and the run's data (``data.eval``,
    ``data.eval_injector``)."""
    config = read_config(run_dir)
    data = build_data(config)
    model = load_model(run_dir, device)
    return encode_conditions(model, data.eval, data.eval_injector, conditions,
                             *model.image_transform(train=False)), data

"""What the course's notebooks share: run folders named after what they train.

``run_folder, train_or_load = notebook_runs(RUNS, reuse=REUSE_RUNS)`` gives a notebook its two
helpers: ``run_folder(name, config)`` is ``RUNS / "<name>-<config key>"`` (a readable name plus the
hash of the fields that define training, :func:`~svl_lib.runs.keyed_folder`), so a changed
parameter trains a run of its own and an unchanged one is reused; ``train_or_load(config, name)``
trains that run, or with ``reuse`` loads it when it finished (:func:`~svl_lib.experiment.run_or_load`).
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from .config import ExperimentConfig
from .experiment import run_or_load
from .runs import keyed_folder

FolderFn = Callable[[str, ExperimentConfig], Path]
TrainFn = Callable[[ExperimentConfig, str], dict[str, Any]]


def notebook_runs(root: Path | str, reuse: bool = True) -> tuple[FolderFn, TrainFn]:
    """``(run_folder, train_or_load)`` over the run folders under ``root`` (see the module docstring)."""
    def run_folder(name: str, config: ExperimentConfig) -> Path:
        return keyed_folder(root, name, config)

    def train_or_load(config: ExperimentConfig, name: str) -> dict[str, Any]:
        return run_or_load(config, run_folder(name, config), reuse=reuse)

    return run_folder, train_or_load

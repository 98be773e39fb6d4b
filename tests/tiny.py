"""The tiny training setting shared by the tests, defined once.

``TINY`` trains in a few seconds on a 2-core CPU: 300 toy images (23 steps of 64 captions per
epoch), 20 validation and 40 test images. Tests that need a finished run take one from the
``tiny_runs`` session fixture (``conftest.py``), which trains each distinct config once per session.
"""
from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

from svl_lib.config import ExperimentConfig
from svl_lib.experiments.registries import resolve

TINY = dict(n_train=300, n_val=20, n_test=40, epochs=1, batch_size=64, warmup_steps=2)
STEPS_PER_EPOCH = 300 * 5 // 64  # 23


def tiny_config(**changes) -> ExperimentConfig:
    """``ExperimentConfig(**TINY)`` with ``changes`` applied, resolved as a run's config
    (:func:`svl_lib.experiments.registries.resolve`: a name or a combination the registries refuse raises)."""
    return resolve(ExperimentConfig(**{**TINY, **changes}))


@dataclass(frozen=True)
class FinishedRun:
    """A run trained once per test session. Its folder is shared: read it, or ``copy_to`` a
    folder of the test's own before changing anything."""
    config: ExperimentConfig
    folder: Path
    metrics: dict

    def copy_to(self, destination: Path) -> Path:
        shutil.copytree(self.folder, destination)
        return destination

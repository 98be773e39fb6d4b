"""Shared test settings: offline, quiet, run folders isolated from the user's, tiny runs trained
once per session, and a guard that keeps the quick loop free of training.

Every test session gets its own ``SVL_RUNS_DIR``: ``SVL_TEST_RUNS_DIR`` when set (kept afterwards,
to look into), else a fresh temporary folder, removed when the session ends. nbval's kernels inherit
it, so ``pytest --nbval-lax tests notebooks`` reuses the run folders the notebook tests trained. A
user's ``SVL_RUNS_DIR`` (or the checkout's ``runs/``) is never read or written by tests.

A test that trains a model is marked ``slow`` (or ``notebook``); ``make test`` deselects both. The
``_training_needs_a_mark`` guard makes any other test that reaches the training loop fail, naming
the mark it needs.
"""
import json
import os
import shutil
import tempfile
from collections.abc import Callable

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("SVL_QUIET", "1")
USER_RUNS_DIR = os.environ.get("SVL_RUNS_DIR")
SESSION_RUNS_DIR = None if os.environ.get("SVL_TEST_RUNS_DIR") else tempfile.mkdtemp(prefix="svl-test-runs-")
os.environ["SVL_RUNS_DIR"] = os.environ.get("SVL_TEST_RUNS_DIR") or SESSION_RUNS_DIR

from tiny import FinishedRun, tiny_config  # noqa: E402  (after the environment is set)

TRAINING_MARKS = ("slow", "notebook")


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """nbval's cells execute the committed notebooks at their defaults: marked ``notebook`` like
    the notebook tests, so that ``-m "notebook or site"`` selects them (``make test-all``)."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)


def pytest_sessionfinish(session, exitstatus) -> None:
    if SESSION_RUNS_DIR:  # the folder this session created, nothing else
        shutil.rmtree(SESSION_RUNS_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _training_needs_a_mark(request, monkeypatch) -> None:
    """Fail a test that trains without one of :data:`TRAINING_MARKS`."""
    if any(request.node.get_closest_marker(mark) for mark in TRAINING_MARKS):
        return
    import svl_lib.experiments.experiment

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} trains a model: mark it @pytest.mark.slow")

    monkeypatch.setattr(svl_lib.experiments.experiment, "train", refuse)


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> Callable[..., FinishedRun]:
    """``tiny_runs(**changes)``: the finished run of ``tiny_config(**changes)``, trained on first
    use and shared by every test of the session (tests marked ``slow`` only)."""
    from svl_lib.experiments.experiment import run_experiment

    root, finished = tmp_path_factory.mktemp("tiny-runs"), {}

    def get(**changes) -> FinishedRun:
        config = tiny_config(**changes)
        key = json.dumps(config.to_dict(), sort_keys=True)
        if key not in finished:
            folder = root / f"run{len(finished)}"
            finished[key] = FinishedRun(config, folder, run_experiment(config, folder, progress=False))
        return finished[key]

    return get

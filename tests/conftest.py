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
import re
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


NOTEBOOK = re.compile(r"(?<!\d)(0\d)_[a-z_]+\.ipynb|test_notebook_(0\d)_")
SAME_RUNS = {"07": "02", "test_a_changed_parameter": "01"}  # 07 reuses notebook 02's bits runs


def notebook_group(nodeid: str) -> str | None:
    """The notebook whose run folders a test trains or reuses (``"01"``), or None: nbval's cells of
    a notebook and the tests that execute it share one, so that under ``--dist loadgroup`` they run
    on one worker, in order, and nbval reuses the runs the tests trained there (each worker has its
    own ``SVL_RUNS_DIR``)."""
    found = NOTEBOOK.search(nodeid)
    if found is None:
        return next((group for name, group in SAME_RUNS.items() if name in nodeid), None)
    number = found[1] or found[2]
    return SAME_RUNS.get(number, number)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """nbval's cells execute the committed notebooks at their defaults: marked ``notebook`` like
    the notebook tests, so that ``-m "notebook or site"`` selects them (``make test-all``). Every
    test of a notebook gets its :func:`notebook_group` as an ``xdist_group``."""
    for item in items:
        if item.path.suffix == ".ipynb":
            item.add_marker(pytest.mark.notebook)
        group = notebook_group(item.nodeid)
        if group is not None:
            item.add_marker(pytest.mark.xdist_group(group))


def pytest_sessionfinish(session, exitstatus) -> None:
    if SESSION_RUNS_DIR:  # the folder this session created, nothing else
        shutil.rmtree(SESSION_RUNS_DIR, ignore_errors=True)


@pytest.fixture(autouse=True)
def _training_needs_a_mark(request, monkeypatch) -> None:
    """Fail a test that trains without one of :data:`TRAINING_MARKS`."""
    if any(request.node.get_closest_marker(mark) for mark in TRAINING_MARKS):
        return
    import svl_lib.experiment

    def refuse(*args, **kwargs):
        raise AssertionError(f"{request.node.nodeid} trains a model: mark it @pytest.mark.slow")

    monkeypatch.setattr(svl_lib.experiment, "train", refuse)


@pytest.fixture(scope="session")
def tiny_runs(tmp_path_factory) -> Callable[..., FinishedRun]:
    """``tiny_runs(**changes)``: the finished run of ``tiny_config(**changes)``, trained on first
    use and shared by every test of the session (tests marked ``slow`` only)."""
    from svl_lib.experiment import run_experiment

    root, finished = tmp_path_factory.mktemp("tiny-runs"), {}

    def get(**changes) -> FinishedRun:
        config = tiny_config(**changes)
        key = json.dumps(config.to_dict(), sort_keys=True)
        if key not in finished:
            folder = root / f"run{len(finished)}"
            finished[key] = FinishedRun(config, folder, run_experiment(config, folder, progress=False))
        return finished[key]

    return get

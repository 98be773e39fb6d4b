"""Shared test settings: offline, quiet, run folders isolated from the user's, tiny runs trained
once per session, and a guard that keeps the quick loop free of training.

Every test session (every pytest-xdist worker) gets its own ``SVL_RUNS_DIR``: ``SVL_TEST_RUNS_DIR``
when set (kept afterwards, to look into), else a fresh temporary folder, removed when the session
ends. nbval's kernels inherit it, so ``pytest --nbval-lax tests notebooks`` reuses the run folders
the notebook tests trained (on two workers with ``--dist loadgroup``: :func:`work_unit`). A
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
from xdist.remote import Producer
from xdist.scheduler import LoadScopeScheduling

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


# Notebooks whose default runs are shared: notebook 07 reuses notebook 02's bits sweep.
SHARED_RUNS = {"07": "02"}
NOTEBOOK_TESTS = "tests/test_notebooks.py"


def work_unit(nodeid: str) -> str:
    """What runs on one worker, in order: every test and nbval cell of one notebook (the number in
    its id: ``notebooks/03_...ipynb::Cell 4``, ``test_notebook_03_...``, ``...[03_...ipynb]``),
    merged with the notebook whose run folders it reuses; any other test goes with its file."""
    path = nodeid.split("::")[0]
    match = re.search(r"(?<![0-9])(0[1-9])_", nodeid)
    if match and (path.endswith(".ipynb") or path == NOTEBOOK_TESTS):
        return "notebook " + SHARED_RUNS.get(match.group(1), match.group(1))
    return path


@pytest.hookimpl(tryfirst=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Producer) -> LoadScopeScheduling | None:
    """``--dist loadgroup`` sends each :func:`work_unit` to one worker, so nbval's cells reuse the
    run folders the notebook's tests trained there (every worker has its own ``$SVL_RUNS_DIR``).
    pytest-xdist's own loadgroup cannot do it here: it renames ``item._nodeid``, which pytest 9 no
    longer reads, so its ``xdist_group`` marks are ignored."""
    if config.getvalue("dist") != "loadgroup":
        return None

    class ByNotebook(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return work_unit(nodeid)

    return ByNotebook(config, log)


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

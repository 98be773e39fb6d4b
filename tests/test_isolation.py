"""The test session never shares run folders with the user (tests/conftest.py)."""
import os
from pathlib import Path

import svl_lib.paths as paths
from svl_lib.paths import runs_dir

from conftest import USER_RUNS_DIR


def test_runs_dir_is_the_sessions_own() -> None:
    here = runs_dir().resolve()
    checkout_default = (Path(paths.__file__).resolve().parent.parent / "runs").resolve()
    assert here != checkout_default
    if USER_RUNS_DIR:
        assert here != Path(USER_RUNS_DIR).expanduser().resolve()
    wanted = os.environ.get("SVL_TEST_RUNS_DIR")
    if wanted:
        assert here == Path(wanted).resolve()

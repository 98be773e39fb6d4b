"""One owner for the run folder's files: only svl_lib.experiments.run_folders names them; every other module reads and
writes them through its functions."""
import ast
from pathlib import Path

import svl_lib
from svl_lib.experiments.run_folders import RUN_FILES

PACKAGE = Path(svl_lib.__file__).parent


def test_only_svl_lib_runs_spells_the_run_files() -> None:
    spelled = {}
    for path in PACKAGE.rglob("*.py"):
        if path == PACKAGE / "experiments" / "run_folders.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in RUN_FILES:
                spelled.setdefault(str(path.relative_to(PACKAGE)), []).append(node.value)
    assert not spelled, f"run files named outside svl_lib.experiments.run_folders: {spelled}"

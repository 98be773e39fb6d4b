"""Execute the course notebooks with their default parameters (papermill).

nbval then re-runs them from the committed copies (``pytest --nbval-lax notebooks``, part of
``make test``) and compares the cells marked ``# NBVAL_CHECK_OUTPUT``; with train-or-load it reuses
the run folders trained here, under the same ``$SVL_RUNS_DIR``.
"""
import json
from pathlib import Path

import papermill
import pytest

from svl_lib.paths import runs_dir

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def execute(name: str, tmp_path: Path, **parameters) -> dict:
    out = tmp_path / name
    papermill.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=parameters,
                               kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    return json.loads(out.read_text())


@pytest.mark.notebook
def test_notebook_01_shows_the_shortcut_effect(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    execute("01_toy_shortcuts.ipynb", tmp_path)
    runs = runs_dir() / "01_toy_shortcuts" / "default"
    base = json.loads((runs / "baseline" / "metrics.json").read_text())["eval"]
    short = json.loads((runs / "unique_shortcut" / "metrics.json").read_text())["eval"]
    assert short["shortcut"]["rsum"] >= 580  # near 600
    assert short["clean"]["rsum"] <= 0.1 * base["clean"]["rsum"]
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"01_two_by_two.png", "01_shortcut_examples.png"} <= figures

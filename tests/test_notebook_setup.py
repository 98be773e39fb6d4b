"""The setup cell of every notebook: it installs the course only where a module is missing, from
the checkout around the notebook with the extras that notebook needs, or else from the course
repository (``git+`` the configured URL, or ``SVL_REPO_URL``)."""
import importlib.util
import json
import subprocess
import sys
from pathlib import Path

import pytest

from svl_lib.course import badges

ROOT = Path(__file__).resolve().parent.parent
BOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
FIND_SPEC = importlib.util.find_spec
EXTRAS = {"04": "[ltd]", "06": "[real]", "07": "[ltd,imagenet]"}  # what a notebook needs beyond the core


def setup_cell(book: Path) -> str:
    cells = json.loads(book.read_text())["cells"]
    return next("".join(c["source"]) for c in cells
                if c["cell_type"] == "code" and "".join(c["source"]).startswith("# Setup:"))


def run_cell(book: Path, cwd: Path, monkeypatch, missing: set[str]) -> list[list[str]]:
    calls = []
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name in missing else FIND_SPEC(name, *a))
    monkeypatch.setattr(subprocess, "run", lambda args, check: calls.append(args))
    monkeypatch.chdir(cwd)
    exec(setup_cell(book), {})
    return calls


@pytest.mark.parametrize("book", BOOKS, ids=lambda p: p.name)
def test_setup_installs_from_the_checkout_with_the_notebooks_extras(book, monkeypatch) -> None:
    calls = run_cell(book, ROOT / "notebooks", monkeypatch, {"svl_lib"})
    extras = EXTRAS.get(book.name[:2], "")
    assert calls == [[sys.executable, "-m", "pip", "install", "--quiet", str(ROOT) + extras]]
    assert run_cell(book, ROOT / "notebooks", monkeypatch, set()) == []  # installed: nothing to do


def test_setup_installs_the_ltd_extra_when_only_it_is_missing(monkeypatch) -> None:
    book = next(b for b in BOOKS if b.name.startswith("04"))
    calls = run_cell(book, ROOT / "notebooks", monkeypatch, {"sentence_transformers"})
    assert calls and calls[0][-1] == str(ROOT) + "[ltd]"


def test_setup_outside_a_checkout_installs_from_the_repository_url(tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("SVL_REPO_URL", raising=False)
    for book in BOOKS:
        extras = EXTRAS.get(book.name[:2], "")
        calls = run_cell(book, tmp_path, monkeypatch, {"svl_lib"})
        assert calls == [[sys.executable, "-m", "pip", "install", "--quiet",
                          f"svl_lib{extras} @ git+{badges.repository_url(ROOT)}"]]
    monkeypatch.setenv("SVL_REPO_URL", "file:///somewhere/svl")
    calls = run_cell(BOOKS[0], tmp_path, monkeypatch, {"svl_lib"})
    assert calls[0][-1] == "svl_lib @ git+file:///somewhere/svl"

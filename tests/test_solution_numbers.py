"""Every number an exercise's solution quotes comes from a committed output: each decimal number
of a notebook's Solutions (after its "### Solutions" heading) appears, as written, in that
notebook's committed outputs or in its answer file (``notebooks/answers/<notebook>.md``, written by
``python -m svl_lib.course.answers``)."""
import json
import re
from pathlib import Path

import pytest

from svl_lib.course import answers

ROOT = Path(__file__).resolve().parent.parent
DECIMAL = re.compile(r"(?<![\d.])−?\d+\.\d+(?![\d.])")


def solutions(notebook: Path) -> str:
    """The markdown of ``notebook`` from its "### Solutions" heading to the end of that cell."""
    for cell in json.loads(notebook.read_text())["cells"]:
        text = "".join(cell["source"])
        if cell["cell_type"] == "markdown" and "### Solutions" in text:
            return text.split("### Solutions", 1)[1]
    return ""


def outputs(notebook: Path) -> str:
    texts = []
    for cell in json.loads(notebook.read_text())["cells"]:
        for output in cell.get("outputs", []):
            texts.append("".join(output.get("text", "")))
            texts += ["".join(output.get("data", {}).get(kind, "")) for kind in ("text/plain", "text/html")]
    return "\n".join(texts)


def numbers(text: str) -> set[str]:
    return {n.lstrip("−-") for n in DECIMAL.findall(text)}


@pytest.mark.parametrize("notebook", sorted(answers.EXERCISES))
def test_every_decimal_a_solution_quotes_is_in_a_committed_output(notebook) -> None:
    path = ROOT / "notebooks" / f"{notebook}.ipynb"
    quoted = numbers(solutions(path))
    assert quoted, f"{notebook}: no Solutions with numbers"
    answer_file = answers.ANSWERS / f"{notebook}.md"
    assert answer_file.is_file(), f"run: python -m svl_lib.course.answers --notebook {notebook}"
    found = numbers(outputs(path)) | numbers(answer_file.read_text())
    assert sorted(quoted - found) == []


def test_the_check_reads_only_the_solutions_and_finds_a_missing_number(tmp_path) -> None:
    cell = {"cell_type": "markdown", "source": ["## Exercises\n1. 0.7 here\n### Solutions\nclean 123.4, −5.5\n"]}
    path = tmp_path / "x.ipynb"
    path.write_text(json.dumps({"cells": [cell]}))
    assert numbers(solutions(path)) == {"123.4", "5.5"}
    assert numbers(solutions(path)) - numbers("| a | 123.4 |") == {"5.5"}


def test_an_answer_page_lists_each_exercise_s_quantities(tmp_path, monkeypatch) -> None:
    monkeypatch.setitem(answers.EXERCISES, "01_toy_shortcuts", {2: lambda: {"clean RSUM": "162.2", "a|b": "1"}})
    assert answers.main(["--notebook", "01_toy_shortcuts", "--out", str(tmp_path)]) == 0
    page = (tmp_path / "01_toy_shortcuts.md").read_text()
    assert "## Exercise 2" in page and "| clean RSUM | 162.2 |" in page
    assert "python -m svl_lib.course.answers --notebook 01_toy_shortcuts" in page
    assert [p.name for p in tmp_path.iterdir()] == ["01_toy_shortcuts.md"]

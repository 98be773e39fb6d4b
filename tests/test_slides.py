"""The workshop's slides and instructor notes (issue 26): one deck per part of the 3-hour plan
(docs/workshop.md) in Jupyter's own slide format (docs/slides/*.ipynb: Markdown cells, each with
slide metadata, 5 to 8 slides), built by ``make slides`` (``python -m svl_lib.course.slides``) into one
reveal.js page per deck; instructor notes (docs/instructor.md) with a section per part that links its
deck; and every decimal number of the decks and the notes taken from a committed notebook output."""
import base64
import json
import re
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from svl_lib.course import slides
from test_make_commands import make_commands
from test_readme_numbers import DECIMAL, committed_outputs

ROOT = Path(__file__).resolve().parent.parent
PLAN = ROOT / "docs" / "workshop.md"
NOTES = ROOT / "docs" / "instructor.md"
DECKS = slides.decks()
SLOT = re.compile(r"(\d+):(\d\d)–(\d+):(\d\d)")


def section(text: str, heading: str) -> str:
    """The text under a ``## heading``, up to the next heading of that level."""
    return text.split(f"## {heading}\n", 1)[1].split("\n## ", 1)[0]


def plan_parts() -> dict[str, set[str]]:
    """The parts of the 3-hour plan: each row's time slot and the notebooks of its notebook column
    (``04 / 05`` -> {"04", "05"}); the break is no part."""
    parts = {}
    for line in section(PLAN.read_text(encoding="utf-8"), "The 3-hour plan").splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and SLOT.fullmatch(cells[0]) and cells[1] != "Break":
            parts[cells[0]] = set(re.findall(r"\b\d\d\b", cells[2]))
    return parts


def minutes(slot: str) -> int:
    h1, m1, h2, m2 = map(int, SLOT.fullmatch(slot).groups())
    return 60 * (h2 - h1) + m2 - m1


def test_every_part_of_the_plan_has_one_deck() -> None:
    parts = plan_parts()
    assert len(parts) >= 6   # the table was found: its parts without the break
    decks = [slides.read(d)["metadata"]["svl_workshop"] for d in DECKS]
    assert {d["time"]: set(d["notebooks"]) for d in decks} == parts
    assert len(decks) == len(parts)   # one each


@pytest.mark.parametrize("deck", DECKS, ids=lambda p: p.stem)
def test_a_deck_is_markdown_with_slide_metadata_on_every_cell(deck: Path) -> None:
    book = slides.read(deck)
    assert slides.problems(book) == []
    assert all(c["cell_type"] == "markdown" and c["metadata"]["slideshow"]["slide_type"] in slides.SLIDE_TYPES
               for c in book["cells"])
    assert 5 <= slides.slide_count(book) <= 8
    assert book["metadata"]["title"] and book["metadata"]["svl_workshop"]["time"] in "".join(book["cells"][0]["source"])
    figures = [c["metadata"]["svl_figure"] for c in book["cells"] if "svl_figure" in c["metadata"]]
    assert figures   # one figure of the course at least, taken from a committed notebook or file
    for spec in figures:
        assert base64.b64decode(slides.figure_png(spec)).startswith(b"\x89PNG")


def test_the_checks_name_what_is_wrong_with_a_deck(tmp_path: Path) -> None:
    book = {"cells": [{"cell_type": "code", "metadata": {"slideshow": {"slide_type": "slide"}}, "source": ""},
                      {"cell_type": "markdown", "metadata": {}, "source": "# x"}]}
    assert slides.problems(book) == ["cell 0 is a code cell, not Markdown",
                                     "cell 1 has no slideshow.slide_type in its metadata"]
    assert slides.slide_count(book) == 1
    with pytest.raises(ValueError, match="expected one code cell containing 'no such code'"):
        slides.figure_png({"notebook": "notebooks/01_toy_shortcuts.ipynb", "cell": "no such code"})
    with pytest.raises(ValueError, match="does not exist"):
        slides.figure_png({"file": "notebooks/figures/no_such_figure.png"})
    (tmp_path / "bad.ipynb").write_text(json.dumps({**book, "metadata": {}, "nbformat": 4, "nbformat_minor": 5}))
    with pytest.raises(ValueError, match="bad.ipynb: cell 0 is a code cell"):
        slides.build(tmp_path / "out", tmp_path)


def test_make_slides_builds_one_reveal_page_per_deck(tmp_path: Path) -> None:
    """`make slides`'s command, into a temporary folder: a page per deck with its title, one
    section per slide, the reveal.js set-up and its figures embedded."""
    pytest.importorskip("nbconvert", reason="the site extra is not installed: pip install -e '.[site]'")
    assert ["python", "-m", "svl_lib.course.slides", "--out", "docs/_build/html/slides"] in make_commands("slides")
    out = tmp_path / "slides"
    done = subprocess.run([sys.executable, "-m", "svl_lib.course.slides", "--out", str(out)], cwd=ROOT,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert sorted(p.name for p in out.iterdir()) == sorted(f"{d.stem}.slides.html" for d in DECKS)
    for deck in DECKS:
        book, page = slides.read(deck), (out / f"{deck.stem}.slides.html").read_text(encoding="utf-8")
        assert f"<title>{book['metadata']['title']} slides</title>" in page
        assert "Reveal.initialize(" in page
        assert page.count("<section") >= slides.slide_count(book)
        figures = sum("svl_figure" in c["metadata"] for c in book["cells"])
        assert page.count('src="data:image/png;base64,') == figures


def test_the_instructor_notes_have_a_section_per_part_and_link_every_deck() -> None:
    notes = NOTES.read_text(encoding="utf-8")
    headings = [line for line in notes.splitlines() if line.startswith("## Part ")]
    parts = plan_parts()
    assert len(headings) == len(parts)
    for slot, books in parts.items():
        heading = next(h for h in headings if f"({slot}, {minutes(slot)} minutes)" in h)
        text = section(notes, heading[3:])
        for book in books:
            assert book in heading
        if books:   # a part with notebooks: what to expect, the quiz answers, the exercise key
            for label in ("**Expected numbers", "**Check your understanding", "**Exercise key"):
                assert label in text, f"{heading}: no {label}"
    for deck in DECKS:
        assert f'href="../slides/{deck.stem}.slides.html"' in notes


def test_the_site_renders_the_notes_under_reference() -> None:
    conf = runpy.run_path(str(ROOT / "docs" / "conf.py"))
    assert conf["NAVIGATION"]["Reference"][-1] == "docs/instructor"
    assert "docs/instructor.md" in conf["include_patterns"]
    assert "[instructor notes](instructor.md)" in PLAN.read_text(encoding="utf-8")


def test_every_decimal_number_of_the_decks_and_the_notes_is_in_a_committed_output() -> None:
    texts = {deck.name: "".join("".join(c["source"]) for c in slides.read(deck)["cells"]) for deck in DECKS}
    texts[NOTES.name] = NOTES.read_text(encoding="utf-8")
    found = set(DECIMAL.findall(committed_outputs()))
    missing = {name: sorted(set(DECIMAL.findall(text)) - found) for name, text in texts.items()}
    assert {name: numbers for name, numbers in missing.items() if numbers} == {}
    assert len(set(DECIMAL.findall(texts[NOTES.name]))) > 40   # the notes do quote the outputs

"""The README is a front page: short, the quick start first and the results out of its first screen,
and everything it once held kept in the pages under docs/ that it links to (issue 26)."""
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
# The pages that took the README's sections when it became a front page.
PAGES = [ROOT / "docs" / name for name in ("results.md", "teaching.md", "library.md", "gpus.md", "testing.md")]
# Every heading of the README before it became a front page: each is still a heading, in the README
# or in a page under docs/ (its level may differ there).
HEADINGS = [
    "SVL: shortcut learning in contrastive vision-language models",
    "Quick start",
    "The notebooks",
    "What the notebooks show",
    "The paper, claim by claim (notebook 07)",
    "The teacher's kit",
    "The library",
    "The retrieval protocol",
    "Data and run folders",
    "Real data, GPUs and several GPUs",
    "GPU acceptance run",
    "Tests",
    "Benchmarks",
]
SETUP, JUPYTER = "make setup", ".venv/bin/jupyter lab"
LINK = re.compile(r"\]\(([^)\s]+)(?:\s+\"[^\"]*\")?\)")   # [text](target) and ![alt](target)
FENCE = re.compile(r"^(```|~~~)")


def prose(text: str) -> list[str]:
    """The lines of a Markdown text outside its fenced code blocks."""
    lines, fenced = [], False
    for line in text.splitlines():
        if FENCE.match(line):
            fenced = not fenced
        elif not fenced:
            lines.append(line)
    return lines


def headings(text: str) -> list[str]:
    return [m[1].strip() for line in prose(text) if (m := re.match(r"#+ (.*)", line))]


def anchor(heading: str) -> str:
    """GitHub's (and MyST's) anchor of a heading: lower case, punctuation dropped, spaces as hyphens."""
    return re.sub(r"[^\w\- ]", "", heading.lower()).replace(" ", "-")


def test_the_readme_is_short() -> None:
    assert len(README.read_text(encoding="utf-8").splitlines()) <= 200


def test_every_former_heading_is_still_a_heading() -> None:
    found = {h for path in [README, *(ROOT / "docs").glob("*.md")] for h in headings(path.read_text(encoding="utf-8"))}
    assert [h for h in HEADINGS if h not in found] == []
    assert "What the course finds" in headings(README.read_text(encoding="utf-8"))


@pytest.mark.parametrize("path", [README, *PAGES], ids=lambda p: p.relative_to(ROOT).as_posix())
def test_every_relative_link_resolves(path: Path) -> None:
    """Each link and image with a relative target names an existing file; where it names a heading
    (``page.md#anchor`` or ``#anchor``), that page has the heading."""
    broken = []
    for line in prose(path.read_text(encoding="utf-8")):
        for target in LINK.findall(line):
            if re.match(r"[a-z]+:", target):   # http(s), mailto
                continue
            file, _, fragment = target.partition("#")
            resolved = (path.parent / file).resolve() if file else path
            if not resolved.is_file():
                broken.append(target)
            elif fragment and resolved.suffix == ".md" and fragment not in {
                    anchor(h) for h in headings(resolved.read_text(encoding="utf-8"))}:
                broken.append(target)
    assert broken == []


def test_the_first_screen_is_the_quick_start_without_results() -> None:
    first = README.read_text(encoding="utf-8").splitlines()[:40]
    assert any(line.startswith(SETUP) for line in first)
    assert any(line.startswith(JUPYTER) for line in first)
    setup = next(i for i, line in enumerate(first) if line.startswith(SETUP))
    assert setup < next(i for i, line in enumerate(first) if line.startswith(JUPYTER))
    assert [line for line in first if "RSUM" in line or re.search(r"\d\.\d+ ?%", line)] == []
    text = README.read_text(encoding="utf-8")
    assert text.index("## What the course finds") > text.index("## The notebooks")

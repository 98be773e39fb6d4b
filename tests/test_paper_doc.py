"""The paper's settings and numbers live in the repository (docs/paper.md), and the code, the grids
and the notebooks cite that page, never a file outside the repository."""
import re
from pathlib import Path

from svl_lib.experiments.results import paper_results

ROOT = Path(__file__).resolve().parent.parent
PAPER = ROOT / "docs" / "paper.md"


def test_every_published_rsum_is_on_the_paper_page() -> None:
    """Each RSUM of svl_lib.experiments.results.paper_results() appears, rounded to one decimal, in
    docs/paper.md."""
    numbers = [float(n) for n in re.findall(r"\d+\.\d\b", PAPER.read_text(encoding="utf-8"))]
    missing = [(r.model, r.dataset, r.train_condition, r.eval_condition, r.rsum)
               for r in paper_results().itertuples()
               if not any(abs(n - r.rsum) <= 0.05 + 1e-9 for n in numbers)]
    assert not missing


def test_code_grids_and_notebooks_cite_the_paper_page_only() -> None:
    outside = re.compile(r"PAPER\.md")  # the paper notes the course once pointed to, outside the repository
    files = [*(ROOT / "svl_lib").rglob("*.py"), *(ROOT / "svl_lib").rglob("*.json"),
             *(ROOT / "notebooks").glob("*.ipynb"), *(ROOT / "notebooks").glob("*.md"),
             ROOT / "README.md", *(ROOT / "docs").glob("*.md")]
    citing = [p.relative_to(ROOT) for p in files if outside.search(p.read_text(encoding="utf-8"))]
    assert not citing
    assert "docs/paper.md" in (ROOT / "svl_lib" / "experiments" / "results.py").read_text(encoding="utf-8")

"""Sphinx configuration of the course website: `make site`.

The source directory is the repository root and this folder holds only the configuration
(``sphinx-build -c docs . docs/_build/html``), so every link of the README and the notebooks
resolves in the site exactly as it does on GitHub. The README is the front page; the navigation
(the notebooks, the results, the glossary, the workshop plan and the other pages of docs/) is added
to it while it is read, so README.md itself carries no Sphinx markup. The notebooks are rendered
from their committed outputs and never executed. After the pages, the workshop's slide decks
(docs/slides/, ``svl_lib.course.slides``: what ``make slides`` builds) are written into the site's
``slides/`` folder, where docs/instructor.md links to them.
"""
from __future__ import annotations

import os
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))   # svl_lib.course.slides, also where the course is not installed (it needs no torch)
# The course repository, as the badges take it (svl_lib.course.badges): $SVL_REPO_URL, else pyproject.toml.
# Read here without importing svl_lib, so that building the site needs no torch.
REPOSITORY = os.environ.get("SVL_REPO_URL") or tomllib.loads(
    (ROOT / "pyproject.toml").read_text(encoding="utf-8"))["project"]["urls"]["Repository"]

project = "SVL: shortcut learning in contrastive vision-language models"
author = "the SVL course authors"
copyright = "the SVL course authors"

extensions = ["myst_nb", "sphinx.ext.githubpages"]   # githubpages: .nojekyll, so Pages serves _static/
root_doc = "README"
NAVIGATION = {  # caption -> documents, in the order of the sidebar
    "Notebooks": sorted(f"notebooks/{p.stem}" for p in (ROOT / "notebooks").glob("[0-9]*.ipynb")),
    "Reference": ["docs/results", "notebooks/GLOSSARY", "docs/workshop", "docs/teaching", "docs/library",
                  "docs/gpus", "docs/testing", "docs/paper", "docs/claims", "docs/instructor"],
}
include_patterns = ["README.md", "notebooks/*.ipynb", "notebooks/GLOSSARY.md", "docs/workshop.md",
                    "docs/paper.md", "docs/claims.md", "docs/results.md", "docs/teaching.md",
                    "docs/library.md", "docs/gpus.md", "docs/testing.md", "docs/instructor.md"]
# Pruned from the walk over the repository (the virtual environment, run folders, data).
exclude_patterns = [".*", "**/.*", "docs/_build", "outputs", "runs", "data", "svl_lib", "tests",
                    "benchmarks", "build", "dist", "*.egg-info"]

nb_execution_mode = "off"          # the committed outputs, as they are
nb_merge_streams = True
myst_enable_extensions = ["dollarmath", "amsmath"]
myst_heading_anchors = 3           # GitHub's anchors, e.g. docs/results.md#the-paper-claim-by-claim-...

html_theme = "sphinx_book_theme"
html_title = "SVL course"
html_theme_options = {
    "repository_url": REPOSITORY,
    "use_repository_button": True,
    "home_page_in_toc": True,
}


def add_navigation(app, docname: str, source: list[str]) -> None:
    """Append a hidden toctree per section of NAVIGATION to the front page (the README)."""
    if docname != app.config.root_doc:
        return
    for caption, entries in NAVIGATION.items():
        lines = "\n".join(f"/{entry}" for entry in entries)
        source[0] += f"\n\n```{{toctree}}\n:hidden:\n:caption: {caption}\n\n{lines}\n```\n"


def add_index_page(app, exception: Exception | None) -> None:
    """Write ``index.html``, which sends a browser to the front page (GitHub Pages opens it)."""
    if exception is None and app.builder.format == "html":
        target = f"{app.config.root_doc}.html"
        (Path(app.outdir) / "index.html").write_text(
            f'<!DOCTYPE html>\n<meta charset="utf-8">\n<title>{html_title}</title>\n'
            f'<meta http-equiv="refresh" content="0; url={target}">\n'
            f'<a href="{target}">{html_title}</a>\n', encoding="utf-8")


def add_slides(app, exception: Exception | None) -> None:
    """Write the workshop's slide decks into ``slides/`` of the site (``svl_lib.course.slides``)."""
    if exception is None and app.builder.format == "html":
        from svl_lib.course import slides

        slides.build(Path(app.outdir) / "slides")


def setup(app) -> None:
    app.connect("source-read", add_navigation)
    app.connect("build-finished", add_index_page)
    app.connect("build-finished", add_slides)

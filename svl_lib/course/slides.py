"""The workshop's slide decks as reveal.js pages: ``python -m svl_lib.course.slides --out FOLDER`` (``make slides``).

A deck is a notebook in ``docs/slides/`` in Jupyter's own slide format: Markdown cells only, each with
``"slideshow": {"slide_type": ...}`` in its metadata, one deck per part of the 3-hour plan
(docs/workshop.md), named in the deck's metadata ``svl_workshop`` (``time``: the part's time slot as
the plan writes it, ``notebooks``: the course notebooks it introduces). Each deck is converted with
nbconvert's ``SlidesExporter`` (what ``jupyter nbconvert --to slides`` runs) into
``FOLDER/<deck>.slides.html``. ``make site`` writes the same pages into the site's ``slides/``
folder (docs/conf.py), where docs/instructor.md links to them.

**Figures.** A deck quotes one figure of the course without a copy of it: a cell whose metadata has
``svl_figure`` shows ``attachment:figure.png``, and the build attaches that PNG, either a committed
file (``{"file": "notebooks/figures/svl_framework.png"}``) or the image output of a notebook's code
cell (``{"notebook": "notebooks/02_shortcut_strength.ipynb", "cell": "bits_sweep("}``: the one code
cell whose source contains that text). So the slides always show the committed figure, and a deck
whose figure is gone fails the build with a message naming it.

**reveal.js** comes from nbconvert's default CDN (unpkg.com), as do require.js and jQuery: the
pages show as slides only with network access. Offline they still open and show every slide's
text and figure (embedded in the page) one below the other. ``--reveal-url`` points the pages at
another copy of reveal.js 4 (a folder or URL that holds ``dist/reveal.js``).
"""
from __future__ import annotations

import argparse
import base64
import json
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DECKS = ROOT / "docs" / "slides"
FIGURE = "figure.png"  # the attachment name a figure cell shows: ![...](attachment:figure.png)
SLIDE_TYPES = {"slide", "subslide", "fragment", "-", "skip", "notes"}


def decks(folder: Path = DECKS) -> list[Path]:
    """The deck notebooks of ``folder``, in the order of the plan (their names start with it)."""
    return sorted(folder.glob("*.ipynb"))


def read(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def slide_count(deck: dict) -> int:
    """How many slides a deck shows: its cells that start a slide or a subslide."""
    return sum(c["metadata"].get("slideshow", {}).get("slide_type") in {"slide", "subslide"}
               for c in deck["cells"])


def figure_png(spec: dict, root: Path = ROOT) -> str:
    """The base64 PNG that a cell's ``svl_figure`` names (see the module's docstring)."""
    if "file" in spec:
        path = root / spec["file"]
        if not path.is_file():
            raise ValueError(f"the figure file {spec['file']} does not exist")
        return base64.b64encode(path.read_bytes()).decode("ascii")
    notebook, text = spec["notebook"], spec["cell"]
    cells = [c for c in read(root / notebook)["cells"]
             if c["cell_type"] == "code" and text in "".join(c["source"])]
    if len(cells) != 1:
        raise ValueError(f"{notebook}: expected one code cell containing {text!r}, found {len(cells)}")
    images = [o["data"]["image/png"] for o in cells[0].get("outputs", []) if "image/png" in o.get("data", {})]
    if len(images) != 1:
        raise ValueError(f"{notebook}: the code cell containing {text!r} has {len(images)} PNG outputs "
                         "in the committed notebook, not one")
    image = images[0]
    return "".join(image) if isinstance(image, list) else image


def with_figures(deck: dict, root: Path = ROOT) -> dict:
    """A copy of ``deck`` whose figure cells carry their figure as the attachment ``figure.png``."""
    deck = json.loads(json.dumps(deck))
    for cell in deck["cells"]:
        spec = cell["metadata"].get("svl_figure")
        if spec:
            cell["attachments"] = {FIGURE: {"image/png": figure_png(spec, root)}}
    return deck


def problems(deck: dict) -> list[str]:
    """What keeps ``deck`` from being a deck: a cell that is not Markdown or has no slide type."""
    found = []
    for i, cell in enumerate(deck["cells"]):
        kind = cell["metadata"].get("slideshow", {}).get("slide_type")
        if cell["cell_type"] != "markdown":
            found.append(f"cell {i} is a {cell['cell_type']} cell, not Markdown")
        if kind not in SLIDE_TYPES:
            found.append(f"cell {i} has no slideshow.slide_type in its metadata")
    return found


def build(out: Path, folder: Path = DECKS, reveal_url: str | None = None, root: Path = ROOT) -> list[Path]:
    """Convert every deck of ``folder`` into ``out/<deck>.slides.html``; the pages written."""
    import nbformat
    from nbconvert import SlidesExporter

    exporter = SlidesExporter()
    if reveal_url:
        exporter.reveal_url_prefix = reveal_url.rstrip("/")
    out.mkdir(parents=True, exist_ok=True)
    written = []
    for path in decks(folder):
        deck = read(path)
        found = problems(deck)
        if found:
            raise ValueError(f"{path.name}: " + "; ".join(found))
        notebook = nbformat.reads(json.dumps(with_figures(deck, root)), as_version=4)
        html, _ = exporter.from_notebook_node(notebook, resources={"metadata": {"name": path.stem,
                                                                                "path": str(path.parent)}})
        target = out / f"{path.stem}.slides.html"
        target.write_text(html, encoding="utf-8")
        written.append(target)
    if not written:
        raise ValueError(f"no decks (*.ipynb) in {folder}")
    return written


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, required=True, help="where the .slides.html pages go")
    parser.add_argument("--decks", type=Path, default=DECKS, help="the folder of deck notebooks")
    parser.add_argument("--reveal-url", help="a copy of reveal.js 4 instead of the CDN's")
    args = parser.parse_args(argv)
    for page in build(args.out, args.decks, args.reveal_url):
        print(page)
    return 0


if __name__ == "__main__":
    sys.exit(main())

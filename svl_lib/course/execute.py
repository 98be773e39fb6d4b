"""Execute the course's notebooks with their default parameters (``make course``).

``python -m svl_lib.course --out outputs`` runs every ``notebooks/NN_*.ipynb`` in order with
papermill, writes the executed copies to ``outputs/`` and the figures to ``outputs/figures/``.
Run folders go to ``$SVL_RUNS_DIR`` (train-or-load: a second call reuses finished runs).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import papermill

from ..paths import runs_dir


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--notebooks", type=Path, default=Path("notebooks"))
    parser.add_argument("--out", type=Path, default=Path("outputs"))
    parser.add_argument("--only", nargs="*", default=None, help="notebook name prefixes, e.g. 01")
    args = parser.parse_args(argv)
    books = sorted(args.notebooks.glob("[0-9][0-9]_*.ipynb"))
    if args.only:
        books = [b for b in books if any(b.name.startswith(p) for p in args.only)]
    if not books:
        print(f"no notebooks found in {args.notebooks}", file=sys.stderr)
        return 1
    args.out.mkdir(parents=True, exist_ok=True)
    figures = (args.out / "figures").resolve()
    os.environ["SVL_FIGURES_DIR"] = str(figures)
    for book in books:
        started = time.perf_counter()
        print(f"executing {book.name} ...", flush=True)
        papermill.execute_notebook(str(book), str(args.out / book.name), kernel_name="python3",
                                   cwd=str(book.parent), progress_bar=False)
        print(f"  done in {time.perf_counter() - started:.0f} s", flush=True)
    print(f"\nexecuted notebooks: {args.out.resolve()}\nfigures:            {figures}\n"
          f"run folders:        {runs_dir().resolve()}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

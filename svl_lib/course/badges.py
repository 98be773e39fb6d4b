"""The course repository's URL, kept in one place, and the "Open in Colab" badges made from it.

The URL is ``[project.urls] Repository`` in ``pyproject.toml``; a fork sets ``SVL_REPO_URL``.
``python -m svl_lib.course.badges`` (run in a checkout) writes from it: a badge as the first line of every
notebook's first cell, the URL in every notebook's setup cell (what it installs from when no checkout
is around, e.g. on Colab), and the Colab column of the README's notebook table.
``--check`` writes nothing and exits 1 when something differs. Both warn (on stderr, the exit code
unchanged) while the URL is the shipped placeholder (:data:`PLACEHOLDER_URL`), not a published
repository of the course: set the published repository's URL in ``pyproject.toml`` and run the
command.
"""
from __future__ import annotations

import argparse
import json
import os
import re
import sys
from pathlib import Path

from ..files import write_text

BADGE_IMAGE = "https://colab.research.google.com/assets/colab-badge.svg"
BADGE = re.compile(r"\[!\[Open In Colab\]\([^)]*\)\]\([^)]*\)")
SETUP_URL = re.compile(r'(REPO_URL = os\.environ\.get\("SVL_REPO_URL", ")[^"]*("\))')
PLACEHOLDER_URL = "https://github.com/svl-course/svl"  # shipped until the course is published
GITHUB = re.compile(r"https://github\.com/([\w.-]+)/([\w.-]+?)(?:\.git)?/?")


def repository_url(root: Path) -> str:
    """``$SVL_REPO_URL``, else ``[project.urls] Repository`` of ``root/pyproject.toml``."""
    if os.environ.get("SVL_REPO_URL"):
        return os.environ["SVL_REPO_URL"]
    import tomllib  # Python 3.11+: only this maintainer command needs it

    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    try:
        return project["urls"]["Repository"]
    except KeyError:
        raise ValueError("pyproject.toml has no [project.urls] Repository: add the course "
                         "repository's URL there (or set SVL_REPO_URL)") from None


def is_placeholder(repo_url: str) -> bool:
    """Whether ``repo_url`` is :data:`PLACEHOLDER_URL` (up to a trailing ``/`` or ``.git``)."""
    return re.sub(r"(\.git)?/?$", "", repo_url.strip()) == PLACEHOLDER_URL


def colab_link(repo_url: str, notebook: str, branch: str = "main") -> str:
    """Colab's address of ``notebooks/<notebook>`` in a GitHub repository."""
    match = GITHUB.fullmatch(repo_url)
    if not match:
        raise ValueError(f"Colab opens notebooks from GitHub only; {repo_url!r} is not a "
                         "https://github.com/OWNER/REPO URL")
    owner, repo = match.groups()
    return f"https://colab.research.google.com/github/{owner}/{repo}/blob/{branch}/notebooks/{notebook}"


def badge(repo_url: str, notebook: str, branch: str = "main") -> str:
    return f"[![Open In Colab]({BADGE_IMAGE})]({colab_link(repo_url, notebook, branch)})"


def badged_notebook(text: str, name: str, repo_url: str, branch: str = "main") -> str:
    """The notebook JSON ``text`` with its badge (first cell, first line) and setup URL updated."""
    book = json.loads(text)
    cells = book["cells"]
    first = "".join(cells[0]["source"])
    line = badge(repo_url, name, branch)
    first = BADGE.sub(line, first, count=1) if BADGE.match(first) else f"{line}\n\n{first}"
    cells[0]["source"] = first.splitlines(keepends=True)
    setups = [c for c in cells if c["cell_type"] == "code" and SETUP_URL.search("".join(c["source"]))]
    if len(setups) != 1:
        raise ValueError(f"{name}: expected one setup cell with REPO_URL = os.environ.get("
                         f'"SVL_REPO_URL", ...), found {len(setups)}')
    source = SETUP_URL.sub(lambda m: m.group(1) + repo_url + m.group(2), "".join(setups[0]["source"]))
    setups[0]["source"] = source.splitlines(keepends=True)
    return json.dumps(book, indent=1, ensure_ascii=False) + ("\n" if text.endswith("\n") else "")


def badged_readme(text: str, notebooks: list[str], repo_url: str, branch: str = "main") -> str:
    """The README with the badge of each notebook's row of the notebook table updated."""
    lines = text.splitlines(keepends=True)
    for name in notebooks:
        rows = [i for i, line in enumerate(lines)
                if line.startswith("|") and f"](notebooks/{name})" in line]
        if len(rows) != 1 or not BADGE.search(lines[rows[0]]):
            raise ValueError(f"README.md: the notebook table needs one row for {name} with an "
                             "Open In Colab badge cell")
        lines[rows[0]] = BADGE.sub(badge(repo_url, name, branch), lines[rows[0]])
    return "".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--root", type=Path, default=Path("."), help="the repository checkout")
    parser.add_argument("--branch", default="main", help="the branch Colab opens")
    parser.add_argument("--check", action="store_true", help="report differences, write nothing")
    args = parser.parse_args(argv)
    url = repository_url(args.root)
    if is_placeholder(url):
        print(f"warning: the repository URL is the shipped placeholder {url}: the Colab badges and "
              "the notebooks' setup cells point at it, not at a published repository of the course. Set "
              "[project.urls] Repository in pyproject.toml to the published repository (a fork: "
              "SVL_REPO_URL) and run python -m svl_lib.course.badges", file=sys.stderr)
    books = sorted((args.root / "notebooks").glob("[0-9][0-9]_*.ipynb"))
    wanted = {book: badged_notebook(book.read_text(), book.name, url, args.branch) for book in books}
    readme = args.root / "README.md"
    wanted[readme] = badged_readme(readme.read_text(), [b.name for b in books], url, args.branch)
    stale = [path for path, text in wanted.items() if path.read_text() != text]
    for path in stale:
        print(f"{'differs' if args.check else 'updated'}: {path}")
        if not args.check:
            write_text(path, wanted[path])
    print(f"repository: {url} ({len(books)} notebooks, {len(stale)} files "
          f"{'differ' if args.check else 'updated'})")
    return 1 if args.check and stale else 0


if __name__ == "__main__":
    sys.exit(main())

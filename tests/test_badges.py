"""The repository URL in one place, and the Colab badges and setup cells written from it."""
import json
from pathlib import Path

import pytest

from svl_lib.course import badges

ROOT = Path(__file__).resolve().parent.parent
BOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))


def test_badges_and_setup_cells_match_the_configured_url(monkeypatch, capsys) -> None:
    monkeypatch.delenv("SVL_REPO_URL", raising=False)
    url = badges.repository_url(ROOT)
    assert url.startswith("https://github.com/")
    assert badges.main(["--root", str(ROOT), "--check"]) == 0, capsys.readouterr().out
    readme = (ROOT / "README.md").read_text()
    for book in BOOKS:
        cells = json.loads(book.read_text())["cells"]
        link = badges.colab_link(url, book.name)
        assert link.endswith(f"/blob/main/notebooks/{book.name}")
        assert "".join(cells[0]["source"]).startswith(f"[![Open In Colab]({badges.BADGE_IMAGE})]({link})")
        assert f"({link})" in readme
        assert any(f'"SVL_REPO_URL", "{url}")' in "".join(c["source"]) for c in cells)


def test_a_fork_url_rewrites_every_badge_and_setup_cell(monkeypatch) -> None:
    monkeypatch.setenv("SVL_REPO_URL", "https://github.com/someone/svl-fork.git")
    url = badges.repository_url(ROOT)
    text = badges.badged_notebook(BOOKS[0].read_text(), BOOKS[0].name, url)
    assert "colab.research.google.com/github/someone/svl-fork/blob/main/notebooks/" in text
    assert "svl-course" not in text.split('"source"')[1]  # the first cell: the old badge is gone
    assert text.count("[![Open In Colab]") == 1
    assert badges.badged_notebook(text, BOOKS[0].name, url) == text  # idempotent
    readme = badges.badged_readme((ROOT / "README.md").read_text(), [b.name for b in BOOKS], url)
    assert readme.count("github/someone/svl-fork/blob/main/notebooks/") == len(BOOKS)


def test_bad_urls_and_tables_are_named() -> None:
    with pytest.raises(ValueError, match="GitHub only"):
        badges.colab_link("https://gitlab.com/a/b", "01_x.ipynb")
    with pytest.raises(ValueError, match="one row for 09_new.ipynb"):
        badges.badged_readme((ROOT / "README.md").read_text(), ["09_new.ipynb"],
                             "https://github.com/a/b")



@pytest.mark.parametrize("url, warns", [
    (None, None),  # the URL in pyproject.toml: the shipped placeholder until the course is published
    ("https://github.com/svl-course/svl", True),
    ("https://github.com/svl-course/svl.git", True),
    ("https://github.com/svl-course/svl/", True),
    ("https://github.com/someone/svl", False),
])
def test_check_warns_while_the_url_is_the_shipped_placeholder(monkeypatch, capsys, url, warns) -> None:
    if url is None:
        monkeypatch.delenv("SVL_REPO_URL", raising=False)
        warns = badges.repository_url(ROOT) == badges.PLACEHOLDER_URL
    else:
        monkeypatch.setenv("SVL_REPO_URL", url)
    code = badges.main(["--root", str(ROOT), "--check"])
    out, err = capsys.readouterr()
    assert ("warning: the repository URL is the shipped placeholder" in err) is warns
    assert "pyproject.toml" in err or not warns
    assert "warning" not in out
    monkeypatch.setattr(badges, "is_placeholder", lambda repo_url: False)
    assert badges.main(["--root", str(ROOT), "--check"]) == code  # the warning leaves the code as it is
    assert capsys.readouterr().err == ""

"""Every number a reader of the result tables sees comes from the committed notebook outputs: each
decimal number (``233.8``, ``0.94``) in a table of the results page's sections "What the notebooks
show" and "The paper, claim by claim (notebook 07)" (docs/results.md; they were the README's until
the README became a front page) appears, as written, in some committed output."""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DECIMAL = re.compile(r"(?<![\d.])\d+\.\d+(?![\d.])")


SECTIONS = ("What the notebooks show", "The paper, claim by claim (notebook 07)")


def result_tables(page: str) -> list[str]:
    """The table rows (lines starting with ``|``) of the results page's two sections: from the
    heading of the first to the next heading of the same or a higher level that is not the second."""
    rows, level = [], None
    for line in page.splitlines():
        heading = re.match(r"(#+) (.*)", line)
        if heading:
            depth, title = len(heading[1]), heading[2].strip()
            if title in SECTIONS:
                level = depth
                continue
            if level is not None and depth <= level:
                level = None
        if level is not None and line.startswith("|") and not line.startswith("| ---"):
            rows.append(line)
    return rows


def committed_outputs() -> str:
    """The text of every output of every committed notebook (streams, plain and HTML results)."""
    texts = []
    for path in sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        for cell in json.loads(path.read_text())["cells"]:
            for output in cell.get("outputs", []):
                texts.append("".join(output.get("text", "")))
                for kind in ("text/plain", "text/html"):
                    texts.append("".join(output.get("data", {}).get(kind, "")))
    return "\n".join(texts)


def test_every_decimal_number_in_the_result_tables_is_in_a_committed_output() -> None:
    page = (ROOT / "docs" / "results.md").read_text()
    assert all(f"## {title}\n" in page for title in SECTIONS)
    rows = result_tables(page)
    numbers = {n for row in rows for n in DECIMAL.findall(row)}
    assert len(numbers) > 20  # the tables are there and hold numbers
    found = set(DECIMAL.findall(committed_outputs()))
    assert sorted(numbers - found) == []


def test_the_check_finds_a_number_that_no_output_holds() -> None:
    rows = result_tables("# Results\n| x | 1.5 |\n## What the notebooks show\n| a | 123.456 |\n"
                         "### 01\n| b | 2.5 |\n## The paper, claim by claim (notebook 07)\n| c | 3.5 |\n"
                         "## Something else\n| d | 4.5 |\n")
    assert rows == ["| a | 123.456 |", "| b | 2.5 |", "| c | 3.5 |"]
    assert "123.456" not in set(DECIMAL.findall(committed_outputs()))

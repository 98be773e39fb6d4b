"""Every number a reader of the README's result tables sees comes from the committed notebook
outputs: each decimal number (``233.8``, ``0.94``) in a table of the sections between "What the
notebooks show" and "The teacher's kit" appears, as written, in some committed output."""
import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DECIMAL = re.compile(r"(?<![\d.])\d+\.\d+(?![\d.])")


def result_tables(readme: str) -> list[str]:
    """The table rows (lines starting with ``|``) of the README's results sections."""
    section = readme.split("### What the notebooks show", 1)[1].split("## The teacher's kit", 1)[0]
    return [line for line in section.splitlines() if line.startswith("|") and not line.startswith("| ---")]


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


def test_every_decimal_number_in_the_readmes_result_tables_is_in_a_committed_output() -> None:
    rows = result_tables((ROOT / "README.md").read_text())
    numbers = {n for row in rows for n in DECIMAL.findall(row)}
    assert len(numbers) > 20  # the tables are there and hold numbers
    found = set(DECIMAL.findall(committed_outputs()))
    assert sorted(numbers - found) == []


def test_the_check_finds_a_number_that_no_output_holds() -> None:
    rows = result_tables("### What the notebooks show\n| a | 123.456 |\n## The teacher's kit\n")
    assert rows == ["| a | 123.456 |"] and "123.456" not in set(DECIMAL.findall(committed_outputs()))

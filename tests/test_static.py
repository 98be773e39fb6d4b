"""Static checks (pyflakes) over the library, the tests and the benchmarks: an undefined name or an
unused import fails here in seconds, not in a code path only a long test reaches (a name lost when
a module was split once reached CI this way)."""
from pathlib import Path

from pyflakes.api import checkPath
from pyflakes.messages import Message
from pyflakes.reporter import Reporter

ROOT = Path(__file__).resolve().parents[1]
CHECKED = ("svl_lib", "tests", "benchmarks")


class _Collect(Reporter):
    """Keeps pyflakes' messages instead of printing them."""

    def __init__(self) -> None:
        self.lines: list[str] = []

    def unexpectedError(self, filename: str, msg: str) -> None:
        self.lines.append(f"{filename}: {msg}")

    def syntaxError(self, filename: str, msg: str, lineno: int, offset: int | None, text: str | None) -> None:
        self.lines.append(f"{filename}:{lineno}: {msg}")

    def flake(self, message: Message) -> None:
        self.lines.append(str(message))


def flakes(paths: list[Path]) -> list[str]:
    """pyflakes' messages for ``paths``, one line each."""
    report = _Collect()
    for path in paths:
        checkPath(str(path), report)
    return report.lines


def test_no_undefined_names_or_unused_imports() -> None:
    files = sorted(p for folder in CHECKED for p in (ROOT / folder).rglob("*.py"))
    assert len(files) > 50
    problems = flakes(files)
    assert not problems, "pyflakes found:\n" + "\n".join(problems)


def test_the_check_finds_an_undefined_name_and_an_unused_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import json\n\ndef f():\n    return load_model('run')\n")
    problems = flakes([bad])
    assert any("undefined name 'load_model'" in p for p in problems)
    assert any("'json' imported but unused" in p for p in problems)

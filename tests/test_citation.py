"""CITATION.cff: valid YAML with the fields a citation needs, in step with pyproject.toml."""
import tomllib
from pathlib import Path

import pytest

yaml = pytest.importorskip("yaml")  # PyYAML comes with papermill (the course extra)

ROOT = Path(__file__).resolve().parent.parent


def test_citation_file_parses_and_matches_pyproject() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for key in ("cff-version", "message", "title", "authors", "version", "license", "repository-code"):
        assert cff.get(key), key
    assert cff["title"] == "SVL: shortcut learning in contrastive vision-language models"
    assert str(cff["version"]) == project["version"]
    assert cff["license"] == project["license"]["text"] == "MIT"
    assert cff["repository-code"] == project["urls"]["Repository"]
    assert all(isinstance(a, dict) and (a.get("name") or a.get("family-names")) for a in cff["authors"])


def test_citation_file_references_the_paper() -> None:
    cff = yaml.safe_load((ROOT / "CITATION.cff").read_text())
    paper = next(r for r in cff["references"] if "Shortcuts in Vision-Language" in r["title"])
    assert paper["title"] == "Demonstrating and Reducing Shortcuts in Vision-Language Representation Learning"
    assert [a["family-names"] for a in paper["authors"]] == ["Bleeker", "Hendriksen", "Yates", "Rijke"]
    assert paper["authors"][3]["name-particle"] == "de"
    assert paper["journal"] == "Transactions on Machine Learning Research"
    assert paper["year"] == 2024
    assert {"type": "other", "value": "arXiv:2402.17510",
            "description": "arXiv identifier"} in paper["identifiers"]
    assert paper["url"] == "https://arxiv.org/abs/2402.17510"

"""The files shipped with the package live in ``svl_lib/resources`` and are read through
``importlib.resources``; ``svl_lib/data`` holds only the dataset code."""
import re
from pathlib import Path

import pytest

import svl_lib
from svl_lib.experiments.grids import grid_names, load_grid
from svl_lib.experiments.results import CSV_STAMP, RECALLS, grid_results, paper_results

PACKAGE = Path(svl_lib.__file__).resolve().parent
RESOURCES = PACKAGE / "resources"


def _stems(folder: Path, suffix: str) -> set[str]:
    return {p.stem for p in folder.iterdir() if p.suffix == suffix}


def test_the_data_package_holds_only_dataset_code() -> None:
    kept = [p.relative_to(PACKAGE) for p in (PACKAGE / "data").rglob("*")
            if p.is_file() and "__pycache__" not in p.parts and p.suffix != ".py"]
    assert kept == [], f"move these to svl_lib/resources: {kept}"


def test_every_shipped_grid_is_listed_and_loads() -> None:
    names = grid_names()
    assert set(names) == _stems(RESOURCES / "grids", ".json") and names
    for name in names:
        assert load_grid(name).name == name


def test_the_papers_numbers_read() -> None:
    table = paper_results()
    assert len(table) > 0 and set(RECALLS) <= set(table.columns)


@pytest.mark.parametrize("name", sorted(_stems(RESOURCES / "grid_results", ".csv")))
def test_every_committed_results_csv_is_found_by_its_grid(name: str) -> None:
    assert name in grid_names()  # results of a shipped grid
    first = (RESOURCES / "grid_results" / f"{name}.csv").read_text().splitlines()[0]
    assert re.fullmatch(rf"{re.escape(CSV_STAMP)}python -m svl_lib.experiments.sweep --grid-file {name} --out runs/\w+/{name} "
                        rf"--csv svl_lib/resources/grid_results/{name}.csv", first)  # the command that remakes it
    assert len(grid_results(name)) > 0


def test_an_unknown_grid_has_no_results() -> None:
    with pytest.raises(ValueError, match="no committed exploratory results for grid 'nope': shipped are"):
        grid_results("nope")
    with pytest.raises(ValueError, match="no committed confirmatory results for grid 'nope'.*--stage confirmatory"):
        grid_results("nope", "confirmatory")
    with pytest.raises(ValueError, match="stage must be one of"):
        grid_results("claims_scratch", "final")

"""The protocols of the course's verdicts, committed before the runs they judge
(``svl_lib/resources/protocols.json``), and the hash that ties a results CSV to them.

A :class:`Protocol` is one verdict row: its rule (a function of :mod:`svl_lib.course.claims`) and
thresholds, its precondition, the comparison (which runs against which, paired or not), the
**family** whose intervals are corrected together (each at :func:`~svl_lib.course.intervals.family_level`
of the family's number of ``tests``), the grids it reads and the **stages** it is run in:
``exploratory`` (the grid's own seeds, 0-4, whose protocols were written after their results
were seen) and
``confirmatory`` (fresh seeds 5-9, run after the protocols were committed).

A results CSV made by ``python -m svl_lib.experiments.sweep --grid-file <grid> --csv ...`` carries, on its
second line, :func:`protocol_hash` of its grid (its file's run fields, the grids it requires included),
of the protocols that read it in that stage, and of the stage's seeds. :func:`is_stale` compares that line with
the hash now: a protocol or grid changed after the CSV was written makes every verdict that
reads it "stale: re-run".
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from functools import cache
from importlib.resources import files
from typing import Any

PROTOCOLS = files("svl_lib.resources") / "protocols.json"
STAGES = ("exploratory", "confirmatory")
SELECTING = ("eta", "caption_probe_below")  # thresholds that pick the runs or settings; no rule sees them
HASH_STAMP = "# protocol: "  # the second line of a results CSV of a grid: its protocol hash
DECISION_FIELDS = ("id", "rule", "thresholds", "precondition", "comparison", "grids", "family", "tests",
                   "stages")


@dataclass(frozen=True)
class Protocol:
    """One verdict row's protocol (see the module docstring); ``claim`` is the row's text."""
    id: str
    claim: str
    rule: str
    thresholds: dict[str, Any]
    precondition: str
    comparison: str
    grids: tuple[str, ...]
    family: str
    tests: int
    stages: tuple[str, ...]

    def family_tests(self) -> int:
        """How many intervals its family holds (at least 1): each is read at the Bonferroni
        level :func:`svl_lib.course.intervals.family_level` of that many tests."""
        return max(1, family_sizes()[self.family])


@cache
def _data() -> dict[str, Any]:
    return json.loads(PROTOCOLS.read_text(encoding="utf-8"))


def protocols() -> dict[str, Protocol]:
    """Every verdict row's protocol by id, in the file's order."""
    return {row["id"]: Protocol(**{**row, "grids": tuple(row["grids"]), "stages": tuple(row["stages"])})
            for row in _data()["rows"]}


def family_sizes() -> dict[str, int]:
    """The number of intervals (tests) of each family."""
    sizes: dict[str, int] = {}
    for p in protocols().values():
        sizes[p.family] = sizes.get(p.family, 0) + p.tests
    return sizes


def stage_seeds(stage: str, grid: str) -> list[int]:
    """The seeds ``grid`` runs in ``stage``: the grid file's own seeds when exploratory, the
    protocols' fresh seeds when confirmatory."""
    from .grids import load_grid
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    if stage == "confirmatory":
        return list(_data()["seeds"]["confirmatory"])
    loaded = load_grid(grid)
    return list(loaded.grid.get("seed", [loaded.base.seed]))


def _grid_fields(grid: str) -> dict[str, Any]:
    """What defines ``grid``'s runs, as its file writes it (not its prose, and not the library's
    defaults, so that a new config field leaves existing results valid): base, points, grid, and
    the same of the grid it requires, recursively."""
    from .grids import GRIDS
    data = json.loads((GRIDS / f"{grid}.json").read_text(encoding="utf-8"))
    return {"base": data["base"], "points": data.get("points", [{}]), "grid": data.get("grid", {}),
            "requires": _grid_fields(data["requires"]) if data.get("requires") else None}


def protocol_hash(grid: str, stage: str) -> str:
    """The first 16 hex digits of the SHA-256 of ``grid``'s run fields, the decision fields of
    every protocol that reads it in ``stage`` (a row run only on the confirmatory seeds judges no
    exploratory result), and the seeds of ``stage``."""
    rows = [{k: row[k] for k in DECISION_FIELDS} for row in _data()["rows"]
            if grid in row["grids"] and stage in row["stages"]]
    payload = {"grid": _grid_fields(grid), "protocols": rows, "stage": stage,
               "seeds": stage_seeds(stage, grid)}
    text = json.dumps(payload, sort_keys=True, default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()[:16]


def stamp_line(grid: str, stage: str) -> str:
    """The CSV line that records the protocol a grid's results were made under."""
    return f"{HASH_STAMP}{protocol_hash(grid, stage)} {grid} {stage}"


def recorded_stamp(csv_text: str) -> str | None:
    """The protocol line of a results CSV's text, or None where it has none."""
    for line in csv_text.splitlines()[:3]:
        if line.startswith(HASH_STAMP):
            return line
    return None


def is_stale(csv_text: str, grid: str, stage: str) -> bool:
    """Whether a results CSV of ``grid`` was made under another protocol, grid or seed set than
    the committed ones (or records none): its verdicts must be re-run, not shown."""
    return recorded_stamp(csv_text) != stamp_line(grid, stage)

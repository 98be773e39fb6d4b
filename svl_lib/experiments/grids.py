"""The paper's experiments as grid files: ``svl_lib/resources/grids/<name>.json``, each with what it
shows (``experiment``), its ``base`` config, explicit ``points`` and a ``grid`` multiplied over each
of them; run one with ``python -m svl_lib.experiments.sweep --grid-file <name> --out <dir>``.

A grid that fine-tunes finished runs names the grid of those runs in ``requires``: it runs first,
into ``<dir>/<requires>``, and the fine-tuning points point at its folders with a relative
``init_from`` such as ``"toy_pretrain/seed={seed}"`` (``{field}`` is filled in per point)."""
from __future__ import annotations

import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

from ..config import ExperimentConfig
from .plan import Grid, plan_sweep

GRIDS = files("svl_lib.resources") / "grids"  # a Traversable: one <name>.json per grid


@dataclass(frozen=True)
class GridFile:
    """An experiment's grid (``svl_lib/resources/grids/<name>.json``): what it shows, its base config,
    its explicit points and the grid multiplied over each of them."""

    name: str
    experiment: str
    base: ExperimentConfig
    points: list[dict[str, Any]]
    grid: Grid
    requires: str | None = None

    def plan(self, root: Path | str, check_folders: bool = False) -> list[tuple[Path, ExperimentConfig]]:
        return plan_sweep(self.base, self.grid, root, check_folders, self.points)

    def stages(self, root: Path | str) -> list[tuple["GridFile", Path]]:
        """The grids to run in order with their root folders: the required grid (recursively)
        into ``root/<its name>``, then this one into ``root``."""
        first = load_grid(self.requires).stages(Path(root) / self.requires) if self.requires else []
        return [*first, (self, Path(root))]


def grid_names() -> list[str]:
    """The experiment grids shipped with the course."""
    return sorted(p.name.removesuffix(".json") for p in GRIDS.iterdir() if p.name.endswith(".json"))


def load_grid(name: str | Path) -> GridFile:
    """A shipped grid by name, or a grid JSON file by path (keys: ``experiment``, ``base``,
    optional ``points``, ``grid`` and ``requires``)."""
    source = Path(name) if str(name).endswith(".json") else GRIDS / f"{name}.json"
    if not source.is_file():
        raise ValueError(f"no grid {name!r}: give a .json file or one of {grid_names()}")
    data = json.loads(source.read_text(encoding="utf-8"))
    return GridFile(source.name.removesuffix(".json"), data["experiment"],
                    ExperimentConfig.from_dict(data["base"]), data.get("points", [{}]),
                    data.get("grid", {}), data.get("requires"))

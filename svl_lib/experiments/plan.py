"""Planning a sweep, before anything runs: a grid of overrides -> its points, each point's folder
name and resolved config (:func:`plan_sweep`), so that a grid file (:mod:`svl_lib.experiments.grids`)
and the sweep that runs it (:mod:`svl_lib.experiments.sweep`) share one plan.

A grid maps a key to the list of its values; the sweep is their Cartesian product, in the grid's
key order, for each explicit point in turn. Each point is a folder named after its overrides, e.g.
``n_bits=4,shortcut_mode=bits`` (``base`` for the empty grid).
"""
from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from ..config import ExperimentConfig
from .registries import resolve
from .run_folders import plan_run_folder

Grid = dict[str, Sequence[Any]]
_SAFE_NAME = re.compile(r"^[A-Za-z0-9_.,=+\-]+$")


def grid_points(grid: Grid, points: Sequence[dict[str, Any]] = ({},)) -> list[dict[str, Any]]:
    """The Cartesian product of ``grid`` as a list of override dicts (grid key order), for each
    of the explicit ``points`` (e.g. baseline, unique, image-only, caption-only) in turn."""
    empty = [k for k, values in grid.items() if len(values) == 0]
    if empty:
        raise ValueError(f"grid key(s) {empty} have no values")
    keys = list(grid)
    product = [dict(zip(keys, values)) for values in itertools.product(*grid.values())]
    return [{**point, **values} for point in points for values in product]


def point_name(overrides: dict[str, Any]) -> str:
    """A readable, deterministic folder name: ``key=value`` joined with commas (``base`` if none)."""
    if not overrides:
        return "base"
    name = ",".join(f"{k}={v}" for k, v in overrides.items())
    if not _SAFE_NAME.match(name):
        raise ValueError(f"grid point {overrides} does not make a safe folder name ({name!r}); "
                         "use plain numbers, booleans and words as values")
    return name


def with_init_from(config: ExperimentConfig) -> ExperimentConfig:
    """``config`` with the ``{field}`` placeholders of its ``init_from`` filled from its own fields:
    ``"../pretrained/seed={seed}"`` fine-tunes each seed of a grid from the same seed's run."""
    if config.init_from is None or "{" not in config.init_from:
        return config
    try:
        return config.replace(init_from=config.init_from.format(**config.to_dict()))
    except (KeyError, IndexError, ValueError) as error:
        raise ValueError(f"init_from={config.init_from!r}: {{...}} must name config fields "
                         f"({error!r})") from None


def plan_sweep(base: ExperimentConfig, grid: Grid, root: Path | str, check_folders: bool = True,
               points: Sequence[dict[str, Any]] = ({},)) -> list[tuple[Path, ExperimentConfig]]:
    """Validate every grid point and return ``(run folder, config)`` pairs, running nothing.

    Raises ``ValueError`` for an unknown key or an impossible value (naming the point and the
    key) and, with ``check_folders``, ``FileExistsError`` when a point's folder holds a different
    config or files that are not a run (nothing is deleted: choose another root).
    """
    keys = [*grid, *(k for point in points for k in point)]
    unknown = [k for k in dict.fromkeys(keys) if k not in ExperimentConfig.__dataclass_fields__]
    if unknown:
        try:
            ExperimentConfig.from_dict(dict.fromkeys(unknown))  # names the key(s), with hints
        except ValueError as error:
            raise ValueError(f"grid: {error}") from None
    plan = []
    for overrides in grid_points(grid, points):
        name = point_name(overrides)
        try:
            config = resolve(with_init_from(base.replace(**overrides)))
        except ValueError as error:
            raise ValueError(f"grid point {name}: {error}") from None
        folder = Path(root) / name
        if check_folders:
            try:
                plan_run_folder(folder, config, resume=True)  # touches nothing
            except FileExistsError as error:
                raise FileExistsError(f"grid point {name}: {error}") from None
        plan.append((folder, config))
    return plan

"""Sweeps: a grid of overrides -> one run folder per grid point, run one at a time.

A grid maps a key to the list of its values; the sweep is their Cartesian product, in the grid's
key order. Each point is a folder named after its overrides, e.g. ``n_bits=4,shortcut_mode=bits``
(``base`` for the empty grid). Every point is validated before anything runs: an unknown key or
an impossible value raises ``ValueError`` naming the point and the key.

Two kinds of sweep:

* **config sweep** (:func:`run_sweep`): the keys are config fields over a base config (each point
  resolved, :func:`svl_lib.experiments.registries.resolve`). Finished folders are skipped, unfinished ones are
  resumed or re-run (``run_experiment(..., resume=True)``); results: :func:`~svl_lib.experiments.results.collect_runs`.
* **notebook sweep** (:func:`sweep_notebook`): the keys are a notebook's ``parameters``; each point
  is executed with papermill into ``<root>/<point>/<notebook>`` with its own ``runs/`` and
  ``figures/`` folders (``SVL_RUNS_DIR``, ``SVL_FIGURES_DIR``). An executed notebook is written
  as ``.partial-<notebook>`` and renamed when it completes, so a finished point is skipped and a
  cut-off one is executed again (its train-or-load cells reuse the runs that finished).

Command line::

    python -m svl_lib.experiments.sweep --out runs/bits --set shortcut_mode=bits epochs=4 --grid n_bits=0,4,8
    python -m svl_lib.experiments.sweep --grid-file toy_bits --out runs/toy_bits
    python -m svl_lib.experiments.sweep --grid-file clip_bits --out runs/clip_bits --set num_workers=8
    python -m svl_lib.experiments.sweep --grid-file clip_bits --out runs/clip_bits --cluster slurm \
        --cluster-set slurm_partition=gpu timeout_min=720
    python -m svl_lib.experiments.sweep --notebook notebooks/01_toy_shortcuts.ipynb --out runs/nb01 \\
        --grid EPOCHS=2,6 --set FAST=True
"""
from __future__ import annotations

import argparse
import ast
import contextlib
import json
import os
import shlex
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, Callable

import pandas as pd

from ..config import ExperimentConfig
from .experiment import run_experiment
from .protocols import STAGES, stamp_line, stage_seeds
from .results import collect_runs, write_results_csv
from .plan import Grid, grid_points, plan_sweep, point_name
from .run_folders import run_status

def run_grid(base: ExperimentConfig, grid: Grid, root: Path | str, reuse: bool = True,
             progress: bool | None = None, log: Callable[[str], None] | None = print,
             points: Sequence[dict[str, Any]] = ({},)) -> list[tuple[Path, dict]]:
    """Run every grid point one training at a time and return ``(run folder, metrics)`` pairs in
    grid order. With ``reuse``, finished points are loaded and unfinished ones resumed
    (:func:`~svl_lib.experiments.experiment.run_or_load`); without, every point trains again (only the
    runs' own files are replaced)."""
    plan = plan_sweep(base, grid, root, check_folders=reuse, points=points)
    done = []
    for n, (folder, config) in enumerate(plan, 1):
        status = run_status(folder)
        if log is not None:
            action = "train" if not reuse or status == "missing" else {
                "finished": "skip (finished)", "unfinished": "resume"}[status]
            log(f"[{n}/{len(plan)}] {folder.name}: {action}")
        metrics = run_experiment(config, folder, overwrite=not reuse, resume=reuse,
                                 progress=progress)
        done.append((folder, metrics))
    return done


def run_seeds(config: ExperimentConfig, seeds: int, root: Path | str, reuse: bool = True,
              progress: bool | None = None) -> list[dict]:
    """The metrics of ``config`` trained with seeds ``0..seeds-1`` (folders ``root/seed=N``)."""
    grid = {"seed": list(range(seeds))}
    return [m for _, m in run_grid(config, grid, root, reuse, progress, log=None)]


def run_sweep(base: ExperimentConfig, grid: Grid, root: Path | str, reuse: bool = True,
              progress: bool | None = None, log: Callable[[str], None] | None = print,
              points: Sequence[dict[str, Any]] = ({},)) -> pd.DataFrame:
    """:func:`run_grid`, then the tidy table of :func:`~svl_lib.experiments.results.collect_runs` of ``root``
    restricted to the grid's folders (one row per (run, condition))."""
    folders = [folder for folder, _ in run_grid(base, grid, root, reuse, progress, log, points)]
    table = collect_runs(root)
    names = {folder.relative_to(root).as_posix() for folder in folders}
    return table[table["run"].isin(names)].reset_index(drop=True)


@contextlib.contextmanager
def _environment(**values: str) -> Iterator[None]:
    """Set environment variables for the duration of the block (a kernel inherits them)."""
    saved = {k: os.environ.get(k) for k in values}
    os.environ.update(values)
    try:
        yield
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v


def sweep_notebook(notebook: Path | str, grid: Grid, root: Path | str,
                   parameters: dict[str, Any] | None = None,
                   log: Callable[[str], None] | None = print) -> list[Path]:
    """Execute ``notebook`` once per grid point (papermill, kernel ``python3``) with the point's
    values (over ``parameters``) and return the executed notebooks' paths. Every key must be a
    parameter of the notebook's ``parameters`` cell; this is checked before anything runs."""
    import papermill

    notebook, root = Path(notebook), Path(root)
    known = papermill.inspect_notebook(str(notebook))
    parameters = dict(parameters or {})
    unknown = [k for k in [*grid, *parameters] if k not in known]
    if unknown:
        raise ValueError(f"unknown notebook parameter(s) {unknown} for {notebook.name}; "
                         f"its parameters are {sorted(known)}")
    points = [(root / point_name(p), p) for p in grid_points(grid)]
    done = []
    for n, (folder, overrides) in enumerate(points, 1):
        target = folder / notebook.name
        if target.is_file():
            if log is not None:
                log(f"[{n}/{len(points)}] {folder.name}: skip (executed)")
            done.append(target)
            continue
        if log is not None:
            log(f"[{n}/{len(points)}] {folder.name}: execute")
        folder.mkdir(parents=True, exist_ok=True)
        partial = folder / f".partial-{notebook.name}"
        with _environment(SVL_RUNS_DIR=str((folder / "runs").resolve()),
                          SVL_FIGURES_DIR=str((folder / "figures").resolve())):
            papermill.execute_notebook(str(notebook), str(partial),
                                       parameters={**parameters, **overrides},
                                       kernel_name="python3", cwd=str(notebook.parent.resolve()),
                                       progress_bar=False)
        os.replace(partial, target)
        done.append(target)
    return done


def parse_value(text: str) -> Any:
    """A Python literal (``4``, ``0.1``, ``True``, ``None``, ``'x'``) or else the text itself."""
    try:
        return ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return text


def parse_assignments(items: Sequence[str], many: bool) -> dict[str, Any]:
    """``["key=v1,v2", ...]`` -> ``{key: [v1, v2]}`` (``many``) or ``["key=v"]`` -> ``{key: v}``."""
    out: dict[str, Any] = {}
    for item in items:
        key, sep, text = item.partition("=")
        if not sep or not key:
            raise ValueError(f"expected key=value, got {item!r}")
        out[key] = [parse_value(v) for v in text.split(",")] if many else parse_value(text)
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0],
                                     formatter_class=argparse.RawDescriptionHelpFormatter,
                                     epilog=__doc__.split("Command line::")[1])
    parser.add_argument("--out", type=Path, required=True, help="the sweep's root folder")
    parser.add_argument("--grid", nargs="+", default=[], metavar="KEY=V1,V2",
                        help="swept keys and their values")
    parser.add_argument("--set", nargs="+", default=[], metavar="KEY=V", dest="fixed",
                        help="fixed overrides of the base config / notebook parameters")
    parser.add_argument("--config", type=Path, help="base config JSON (default: the defaults)")
    parser.add_argument("--grid-file", help="an experiment's grid: a .json file or the name of one of "
                        "svl_lib/resources/grids (svl_lib.experiments.grids.grid_names())")
    parser.add_argument("--cluster", choices=("slurm", "local"), help="submit the points as a job "
                        "array through submitit instead of running them here (svl_lib.experiments.cluster)")
    parser.add_argument("--cluster-set", nargs="+", default=[], metavar="KEY=V",
                        help="submitit parameters, e.g. slurm_partition=gpu timeout_min=720")
    parser.add_argument("--notebook", type=Path, help="sweep this notebook's parameters instead")
    parser.add_argument("--csv", type=Path, help="also write the last stage's per-run table to this CSV")
    parser.add_argument("--stage", choices=STAGES, help="with --grid-file: run the seeds of this stage of "
                        "the grid's protocols (svl_lib.experiments.protocols; confirmatory: the fresh seeds 5-9) in "
                        "every stage of the grid, and record the protocol's hash in the CSV")
    args = parser.parse_args(argv)
    try:
        grid = parse_assignments(args.grid, many=True)
        fixed = parse_assignments(args.fixed, many=False)
        if args.notebook is not None:
            if args.config is not None:
                parser.error("--config applies to config sweeps, not to --notebook")
            for path in sweep_notebook(args.notebook, grid, args.out, fixed):
                print(path)
            return 0
        if args.stage is not None and args.grid_file is None:
            parser.error("--stage applies to --grid-file")
        if args.grid_file is not None:
            if args.config is not None:
                parser.error("--grid-file holds its own base config; change it with --set")
            from .grids import grid_names, load_grid
            seeds = {"seed": stage_seeds(args.stage, args.grid_file)} if args.stage else {}
            stages = [(g.base, g.points, {**g.grid, **seeds}, root, g)
                      for g, root in load_grid(args.grid_file).stages(args.out)]
            *first, (base, points, own, root, last) = stages  # --grid adds to the last stage
            stages = [*first, (base, points, {**own, **grid}, root, last)]
        else:
            base = ExperimentConfig.from_dict(json.loads(args.config.read_text()) if args.config else {})
            stages, last = [(base, ({},), grid, args.out, None)], None
        for base, points, swept, root, experiment in stages:
            if experiment is not None:
                print(f"{experiment.name}: {experiment.experiment} -> {root}")
            if args.cluster is not None:
                from .cluster import source_finished, submit_plan
                plan = plan_sweep(base.replace(**fixed), swept, root, points=points)
                jobs = submit_plan(plan, args.out / "jobs", args.cluster,
                                   **parse_assignments(args.cluster_set, many=False))
                waiting = sum(not source_finished(f, c) for f, c in plan)
                print(f"submitted {len(jobs)} of {len(plan)} points: "
                      f"{', '.join(job.job_id for job in jobs) or '-'}; logs in {args.out / 'jobs'}"
                      + (f"; {waiting} wait for the runs they fine-tune: submit again when those "
                         "have finished" if waiting else ""))
                continue
            table = run_sweep(base.replace(**fixed), swept, root, points=points)
            if args.csv is not None and experiment is last:  # with the command that made it
                command = shlex.join(["python", "-m", "svl_lib.experiments.sweep", *(argv or sys.argv[1:])])
                plain = last is not None and not (grid or fixed) and last.name in grid_names()
                stamp = stamp_line(last.name, args.stage or "exploratory") if plain else None
                write_results_csv(table, args.csv, command, stamp)
            columns = ["run", "condition", "i2t_r1", "t2i_r1", "rsum"]
            with pd.option_context("display.width", 160, "display.max_rows", 200):
                print(table[columns].round(2).to_string(index=False))
    except (ValueError, FileExistsError) as error:
        parser.exit(2, f"error: {error}\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

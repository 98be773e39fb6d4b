"""The course's claim-by-claim comparison with the paper (notebook 07): the claims grids' per-run
results, grouped into settings, summarised, and put through the rules of :mod:`svl_lib.course.claims`.

Three **settings**, each a shipped grid (``svl_lib/resources/grids/claims_*.json``, 5 seeds)
whose per-run results are committed (``svl_lib/resources/grid_results/<grid>.csv``,
:func:`claims_results`):

- ``claims_finetune``, the CLIP analogue: a clean run on another toy world, fine-tuned;
- ``claims_image_tower``, the VSE++ analogue: that run's image tower with a caption tower from
  scratch;
- ``claims_scratch``: both towers from scratch (notebooks 04 and 05's setting).

Each grid trains the same **variants** (:data:`VARIANTS`): no shortcut, unique shortcuts on both
sides, on one side only, and unique + LTD or IFM. A table row is one (run, condition) of
:func:`svl_lib.experiments.results.collect_runs`.
"""
from __future__ import annotations

import re
from pathlib import Path

import numpy as np
import pandas as pd

from . import claims as rules
from ..config import ExperimentConfig
from ..data import load_split
from ..experiments.grids import load_grid
from ..experiments.results import grid_results, paper_results
from ..evaluate.retrieval import ceiling_metrics
from ..experiments.sweep import run_sweep

SETTINGS = {"claims_finetune": "fine-tuned (CLIP analogue)",
            "claims_image_tower": "pretrained image tower (VSE++ analogue)",
            "claims_scratch": "from scratch"}
VARIANTS = ("clean", "unique", "image-only", "caption-only", "unique + LTD", "unique + IFM")


def variant(row: pd.Series | dict) -> str:
    """The variant (:data:`VARIANTS`) of a run from its config fields."""
    if row["shortcut_mode"] == "none":
        return "clean"
    if row["ltd"] != "none":
        return "unique + LTD"
    if row["ifm_epsilon"] > 0:
        return "unique + IFM"
    if not row["shortcut_on_caption"]:
        return "image-only"
    if not row["shortcut_on_image"]:
        return "caption-only"
    return "unique"


def grid_tables(names: list[str] | tuple[str, ...], recompute: bool = False, root: Path | str | None = None,
                shrink: dict | None = None, seeds: int | None = None) -> dict[str, pd.DataFrame]:
    """Each shipped grid's table with a ``variant`` column (:data:`VARIANTS`): its committed
    (exploratory) results, or with ``recompute`` the grid run (train-or-load) under
    ``root/<name>``; ``shrink`` overrides fields of every run (e.g. a FAST check) and ``seeds``
    keeps the first seeds only."""
    tables = {}
    for name in names:
        if recompute:
            if root is None:
                raise ValueError("recompute needs a root folder for the runs")
            for grid, folder in load_grid(name).stages(Path(root) / name):  # a required grid first
                grid_points = {**grid.grid, **({"seed": list(range(seeds))} if seeds else {})}
                table = run_sweep(grid.base.replace(**(shrink or {})), grid_points, folder,
                                  points=grid.points, log=None)
        else:
            table = grid_results(name)
            if seeds:
                table = table[table["seed"] < seeds]
        tables[name] = table.reset_index(drop=True).pipe(lambda t: t.assign(variant=t.apply(variant, axis=1)))
    return tables


def claims_results(recompute: bool = False, root: Path | str | None = None,
                   shrink: dict | None = None, seeds: int | None = None) -> dict[str, pd.DataFrame]:
    """:func:`grid_tables` of the three settings."""
    return grid_tables(tuple(SETTINGS), recompute, root, shrink, seeds)


def per_seed(table: pd.DataFrame, name: str, condition: str = "clean") -> list[float]:
    """The RSUM values of variant ``name`` under ``condition``, one per seed, in seed order."""
    return select(table, condition=condition, variant=name)


def summary(tables: dict[str, pd.DataFrame]) -> pd.DataFrame:
    """Mean ± std over seeds of clean RSUM, RSUM with the shortcut and the image probe, per setting
    and variant, with the precondition of a shortcut claim (uses the shortcut: RSUM with it >= 500),
    chance and the toy's ceiling (the best RSUM identical captions and the tie rule allow)."""
    rows = []
    for name, table in tables.items():
        for kind in VARIANTS:
            clean, short = per_seed(table, kind), per_seed(table, kind, "shortcut")
            if not clean:
                continue
            uses = "—" if kind == "clean" else "yes" if rules.uses_shortcut(short) else "no"
            probe = select(table, "probe_image", variant=kind) if "probe_image" in table else [np.nan]
            rows.append({"setting": SETTINGS[name], "variant": kind, "seeds": len(clean),
                         "clean RSUM": mean_std(clean), "shortcut RSUM": mean_std(short),
                         "image probe (%)": mean_std(probe) if not np.isnan(probe).any() else "—",
                         "uses the shortcut (>= 500)": uses,
                         "chance": round(float(table["chance_rsum"].iloc[0]), 1),
                         "clean ceiling": round(toy_ceiling(table), 1)})
    return pd.DataFrame(rows).set_index(["setting", "variant"])


def test_captions(table: pd.DataFrame) -> list[list[str]]:
    """The clean captions of the toy test split the table's runs were evaluated on (their world's
    sizes and seed), one list per image."""
    row = table.iloc[0]
    world = ExperimentConfig(**{k: int(row[k]) for k in ("n_train", "n_val", "n_test", "image_size", "data_seed")})
    return load_split(world, "test").captions


def toy_ceiling(table: pd.DataFrame) -> float:
    """The ceiling RSUM (:func:`~svl_lib.evaluate.retrieval.ceiling_metrics`) of the table's test split."""
    return ceiling_metrics(test_captions(table))["rsum"]


def mean_std(values: list[float]) -> str:
    """'mean ± std' of per-seed values (one value: the value)."""
    return f"{np.mean(values):.1f} ± {np.std(values, ddof=1):.1f}" if len(values) > 1 else f"{values[0]:.1f}"


def paper_rsum(model: str, train: str, evaluated: str = "clean", dataset: str = "coco") -> float:
    """The paper's RSUM of ``model`` trained under ``train`` and evaluated ``evaluated``; where it
    logged several runs, their mean (the source column names it), not the first run's."""
    paper = paper_results()
    row = paper[(paper["model"] == model) & (paper["dataset"] == dataset) & (paper["train_condition"] == train)
                & (paper["eval_condition"] == evaluated)].iloc[0]
    mean = re.search(r"mean of the \d+: ([\d.]+)", row["source"])
    return float(mean.group(1)) if mean else float(row["rsum"])


def paper_side(claim_id: str) -> str:
    """The paper's COCO numbers behind the verdict row ``claim_id`` (:mod:`svl_lib.experiments.protocols`)."""
    rsum = paper_rsum
    clip, vse = "CLIP RN50", "VSE++"
    sides = {
        "2": f"CLIP image-only {rsum(clip, 'image-only shortcut'):.0f}, caption-only "
             f"{rsum(clip, 'caption-only shortcut'):.0f} (baseline {rsum(clip, 'baseline'):.0f}); VSE++ "
             f"caption-only {rsum(vse, 'caption-only shortcut'):.0f} (baseline {rsum(vse, 'baseline'):.0f})",
        "3a": f"CLIP {rsum(clip, 'unique shortcut', 'shortcut'):.0f}, VSE++ "
              f"{rsum(vse, 'unique shortcut', 'shortcut'):.0f}",
        "3b-clip": f"CLIP {rsum(clip, 'baseline'):.0f} → {rsum(clip, 'unique shortcut'):.0f}",
        "3b-vse": f"VSE++ {rsum(vse, 'baseline'):.0f} → {rsum(vse, 'unique shortcut'):.1f}",
        "3c": f"CLIP zero-shot {rsum(clip, 'zero-shot'):.0f} → {rsum(clip, 'unique shortcut'):.0f} fine-tuned",
        "4": "clean falls, shortcut rises with n_bits (both models, both datasets; the curves dip)",
    }
    if claim_id == "5-ifm-stop":
        return "stated by a summary of the paper; the paper's tables the course has hold no IFM numbers"
    if claim_id in sides:
        return sides[claim_id]
    if claim_id[0] == "T":
        return "the course's own trial, not a claim of the paper"
    return "the course's own control, not a claim of the paper" if claim_id[0] in "SL" \
        else "the course does not have the paper's Section 6 numbers"


# Field filters of the unique-shortcut variants (for :func:`select`).
PLAIN = dict(shortcut_mode="unique", ltd="none", ifm_epsilon=0.0, shortcut_on_image=True,
             shortcut_on_caption=True)
LTD = dict(PLAIN, ltd="constrained")


def within_bound(table: pd.DataFrame, eta: float) -> pd.DataFrame:
    """The rows of the constrained LTD runs at bound ``eta`` whose L_rec the constraint bounds
    (training batches of the last epoch, captions as fed: ``ltd_rec_constraint``) is within it."""
    return table[(table["ltd"] == "constrained") & (table["ltd_bound"] == eta)
                 & (table["ltd_rec_constraint"] <= eta)]


def select(table: pd.DataFrame, column: str = "rsum", condition: str = "clean", **fields) -> list[float]:
    """``column`` of the runs whose config fields equal ``fields``, under ``condition``, in seed order."""
    return seeded(table, column, condition, **fields).tolist()


def seeded(table: pd.DataFrame, column: str = "rsum", condition: str = "clean", **fields) -> pd.Series:
    """``column`` of the runs whose config fields equal ``fields`` under ``condition``, indexed by seed."""
    rows = table[table["condition"] == condition]
    for key, value in fields.items():
        rows = rows[rows[key] == value]
    return rows.set_index("seed")[column].astype(float).sort_index()


def paired(*series: pd.Series) -> list[list[float]]:
    """The values of each series on the seeds all of them have, in seed order."""
    common = sorted(set.intersection(*(set(s.dropna().index) for s in series)))
    return [s.loc[common].tolist() for s in series]

"""Read run folders back as pandas tables, and summarise seeded settings.

Run folders (:func:`run_folders`, :func:`collect_runs`, :func:`collect_probes`,
:func:`load_history`) become tidy tables: one row per (run, condition) or (run, probe). Only
finished folders are read.

The mitigation notebooks (03-05) compare *settings*: one configuration trained with several seeds.
:func:`run_summary` reduces one run's ``metrics.json`` dict to

- ``clean RSUM`` / ``shortcut RSUM``: retrieval on the clean test split / with the test shortcut
  (the latter only when the run evaluated it);
- ``probe image`` / ``probe caption``: mean linear-probe accuracy (%) over the toy world's
  attributes, from the frozen image embeddings / from the captions that name the attribute
  (``caption_naming``), when the run holds probes (``metrics["probes"]``, :mod:`svl_lib.evaluate.probes`).

:func:`seed_table` lists them per (setting, seed); :func:`mitigation_table` gives each column as
mean ± sample standard deviation (``ddof=1``) over a setting's seeds (± 0 for a single seed).
"""
from __future__ import annotations

import io

import warnings
from collections.abc import Sequence
from importlib.resources import files
from pathlib import Path
from typing import IO

import numpy as np
import pandas as pd

from ..files import write_text
from .run_folders import CONFIG, read_config_values, read_history, read_metrics, run_status


PAPER_RESULTS = files("svl_lib.resources") / "paper_results.csv"  # Traversables, not paths
GRID_RESULTS = files("svl_lib.resources") / "grid_results"  # the committed per-run results of grids
CSV_STAMP = "# made by: "  # the first line of a results CSV this library wrote: the command
RECALLS = ("i2t_r1", "i2t_r5", "i2t_r10", "t2i_r1", "t2i_r5", "t2i_r10")


def paper_results() -> pd.DataFrame:
    """The paper's published numbers (docs/paper.md, section 8): one row per model, dataset, training
    condition and evaluation condition, with R@1/5/10 both ways, RSUM and the source."""
    with PAPER_RESULTS.open("r", encoding="utf-8") as handle:
        return pd.read_csv(handle)


def load_history(run_dir: Path | str) -> pd.DataFrame:
    """``history.jsonl`` of a run as a DataFrame (one row per training step)."""
    return pd.DataFrame(read_history(run_dir))


def two_by_two(metrics_by_training: dict[str, dict], metric: str = "rsum") -> pd.DataFrame:
    """The train x evaluate table: rows = how each model was trained (the dict's keys),
    columns = evaluated ``clean`` / with the ``shortcut``; values = ``metric``."""
    rows = {name: {"evaluated clean": m["eval"]["clean"][metric],
                   "evaluated with shortcut": m["eval"]["shortcut"][metric]}
            for name, m in metrics_by_training.items()}
    return pd.DataFrame.from_dict(rows, orient="index")


def conditions_table(metrics: dict) -> pd.DataFrame:
    """One run's metrics, one row per evaluation condition (recalls, RSUM, ranks)."""
    return pd.DataFrame.from_dict(metrics["eval"], orient="index")


def run_folders(root: Path | str) -> list[Path]:
    """Every finished run folder under ``root`` (recursively), sorted. Folders that hold a
    ``config.json`` but did not finish (cut off, half-written, corrupt) or are not runs of this
    version are never read as results: they are skipped with a warning naming them."""
    root = Path(root)
    found, unfinished = [], []
    for config in sorted(root.rglob(CONFIG)):
        (found if run_status(config.parent) == "finished" else unfinished).append(config.parent)
    if unfinished:
        warnings.warn(f"skipped {len(unfinished)} unfinished or foreign run folder(s): "
                      + ", ".join(str(p.relative_to(root)) for p in unfinished), stacklevel=2)
    return found


def _run_columns(root: Path, run: Path) -> dict:
    """``run`` (the folder relative to ``root``, ``/``-separated) and every config field
    (tuples joined with commas)."""
    config = read_config_values(run)
    flat = {k: ",".join(v) if isinstance(v, list) else v for k, v in config.items()}
    return {"run": run.relative_to(root).as_posix(), **flat}


def collect_runs(root: Path | str) -> pd.DataFrame:
    """Retrieval results of every finished run under ``root``: one row per (run, condition).

    Columns: ``run``, every :class:`~svl_lib.experiments.experiment.ExperimentConfig` field, ``condition``
    (clean, shortcut, image_only, caption_only), the metrics of :mod:`svl_lib.evaluate.retrieval`
    (``i2t_r1`` ... ``rsum``, ranks), ``chance_rsum``, ``train_seconds``, ``steps``,
    ``final_loss``, and for LTD runs the decoder's L_rec on the clean captions of the training and
    the held-out test split (``ltd_rec_train``, ``ltd_rec_test``) and the L_rec the constraint bounds,
    over the training batches of the last epoch (captions as fed; ``ltd_rec_constraint``), empty
    for other runs (with a shortcut, also on those captions with their evaluation shortcut:
    ``ltd_rec_train_shortcut``, ``ltd_rec_test_shortcut``); for fine-tuned runs (``init_from``,
    all of the model) the RSUM of their start under the same condition (``start_rsum``, the
    zero-shot score); and for probed runs the mean
    attribute probe accuracy (%) of the image and caption embeddings (``probe_image``,
    ``probe_caption``).
    """
    root = Path(root)
    rows = []
    for run in run_folders(root):
        metrics = read_metrics(run)
        keys = _run_columns(root, run)
        extra = {"chance_rsum": metrics["chance"]["rsum"], "train_seconds": metrics["train_seconds"],
                 "steps": metrics["steps"], "final_loss": metrics["final_loss"],
                 **{f"ltd_rec_{split}": v for split, v in metrics.get("ltd_rec", {}).items()},
                 **({"ltd_rec_constraint": last_epoch_mean(run, "rec")} if "ltd_rec" in metrics else {}),
                 **{_PROBE_KEYS[k]: v for k, v in run_summary(metrics).items() if k in _PROBE_KEYS}}
        start = metrics.get("start", {}).get("eval", {})
        rows += [{**keys, "condition": c, **values, **extra,
                  **({"start_rsum": start[c]["rsum"]} if c in start else {})}
                 for c, values in metrics["eval"].items()]
    return pd.DataFrame(rows)


def last_epoch_mean(run: Path, key: str) -> float:
    """The mean of ``key`` over the records of the last epoch in the run's ``history.jsonl``."""
    history = read_history(run)
    last = [r[key] for r in history if r["epoch"] == history[-1]["epoch"]]
    return float(np.mean(last))


def collect_probes(root: Path | str) -> pd.DataFrame:
    """Probe results of every finished run under ``root`` that has them: one row per
    (run, modality, target).

    Columns: ``run``, every config field, ``modality`` (image, caption, caption_naming),
    ``target`` (an attribute or ``digit_i``), ``kind`` (attribute, shortcut), ``accuracy``,
    ``majority``, ``gain`` (accuracy - majority; fractions in [0, 1]), ``n_train``, ``n_test``.
    """
    root = Path(root)
    rows = []
    for run in run_folders(root):
        metrics = read_metrics(run)
        keys = _run_columns(root, run)
        rows += [{**keys, **p, "gain": p["accuracy"] - p["majority"]} for p in metrics.get("probes", [])]
    return pd.DataFrame(rows)


PROBE_COLUMNS = {"probe image": "image", "probe caption": "caption_naming"}
_PROBE_KEYS = {"probe image": "probe_image", "probe caption": "probe_caption"}


def run_summary(metrics: dict) -> dict[str, float]:
    """The numbers of one run (a ``metrics.json`` dict): ``clean RSUM``, ``shortcut RSUM`` (when
    evaluated) and the mean attribute probe accuracies in % (:data:`PROBE_COLUMNS`, when probed)."""
    row = {"clean RSUM": metrics["eval"]["clean"]["rsum"]}
    if "shortcut" in metrics["eval"]:
        row["shortcut RSUM"] = metrics["eval"]["shortcut"]["rsum"]
    for column, modality in PROBE_COLUMNS.items():
        accs = [p["accuracy"] for p in metrics.get("probes", [])
                if p["kind"] == "attribute" and p["modality"] == modality]
        if accs:
            row[column] = 100.0 * float(np.mean(accs))
    return row


def seed_table(runs: dict[str, Sequence[dict]]) -> pd.DataFrame:
    """Long table: one row per (setting, seed) with :func:`run_summary`'s columns. ``runs`` maps a
    setting's name to its runs' metrics dicts; ``seed`` is the position in that list (0, 1, ...)."""
    rows = [{"setting": name, "seed": seed, **run_summary(m)}
            for name, seeds in runs.items() for seed, m in enumerate(seeds)]
    return pd.DataFrame(rows)


def mitigation_table(runs: dict[str, Sequence[dict]], decimals: int = 1) -> pd.DataFrame:
    """One row per setting (in the dict's order): ``seeds`` (how many runs) and each of
    :func:`seed_table`'s columns as a string ``"mean ± std"`` over the setting's seeds, std the
    sample standard deviation (``ddof=1``; ``"—"`` for a single seed, which has none)."""
    long = seed_table(runs)
    columns = [c for c in long.columns if c not in ("setting", "seed")]
    grouped = long.groupby("setting", sort=False)[columns]
    mean, std = grouped.mean(), grouped.std(ddof=1)
    table = mean.copy().astype(object)
    for c in columns:
        table[c] = [f"{m:.{decimals}f} ± " + ("—" if np.isnan(s) else f"{s:.{decimals}f}")
                    for m, s in zip(mean[c], std[c])]
    table.insert(0, "seeds", grouped.size())
    return table


def write_results_csv(table: pd.DataFrame, path: Path | str, command: str, stamp: str | None = None) -> Path:
    """Write a sweep's tidy table (:func:`collect_runs`) to ``path`` as CSV, its first line
    ``# made by: <command>``, then ``stamp`` where given (the protocol it was made under,
    :func:`svl_lib.experiments.protocols.stamp_line`). A file that this function did not write is never
    replaced: one ``FileExistsError`` naming it, nothing written."""
    path = Path(path)
    if path.exists() and not path.read_text(errors="replace").startswith(CSV_STAMP):
        raise FileExistsError(f"{path} exists and was not written by svl_lib (no '{CSV_STAMP}' "
                              "first line): choose another --csv path")
    header = f"{CSV_STAMP}{command}\n" + (f"{stamp}\n" if stamp else "")
    path.parent.mkdir(parents=True, exist_ok=True)
    return write_text(path, header + table.to_csv(index=False))


def read_results_csv(path: Path | str | IO[str]) -> pd.DataFrame:
    """A table written by :func:`write_results_csv` (the command line skipped), from a path or an
    open text file."""
    return pd.read_csv(path, comment="#")


def grid_results(name: str, stage: str = "exploratory") -> pd.DataFrame:
    """The committed per-run results of the shipped grid ``name`` in ``stage``
    (``svl_lib/resources/grid_results/<name>.csv`` for the exploratory seeds,
    ``grid_results/confirmatory/<name>.csv`` for the fresh ones; made by the command on the first
    line). ``attrs["stale"]`` says whether it was made under another protocol or grid than the
    committed ones (:func:`svl_lib.experiments.protocols.is_stale`)."""
    from .protocols import STAGES, is_stale
    if stage not in STAGES:
        raise ValueError(f"stage must be one of {STAGES}, got {stage!r}")
    folder = GRID_RESULTS if stage == "exploratory" else GRID_RESULTS / "confirmatory"
    source = folder / f"{name}.csv"
    if not source.is_file():
        shipped = sorted(p.name.removesuffix(".csv") for p in folder.iterdir()
                         if p.name.endswith(".csv")) if folder.is_dir() else []
        raise ValueError(f"no committed {stage} results for grid {name!r}: shipped are {shipped}; "
                         f"run it with python -m svl_lib.experiments.sweep --grid-file {name} --stage {stage} "
                         "--out DIR --csv FILE")
    text = source.read_text(encoding="utf-8")
    table = read_results_csv(io.StringIO(text))
    table.attrs["stale"] = is_stale(text, name, stage)
    return table

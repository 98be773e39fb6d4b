"""Read run folders back: metrics and training history as pandas tables."""
from __future__ import annotations

import json
import warnings
from pathlib import Path

import pandas as pd

from .experiment import run_status


def load_history(run_dir: Path | str) -> pd.DataFrame:
    """``history.jsonl`` of a run as a DataFrame (one row per training step)."""
    path = Path(run_dir) / "history.jsonl"
    if not path.is_file():
        raise FileNotFoundError(f"no training history at {path}")
    return pd.DataFrame([json.loads(line) for line in path.read_text().splitlines() if line])


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
    ``config.json`` but did not finish (cut off, half-written, corrupt) are never read as results:
    they are skipped with a warning naming them."""
    root = Path(root)
    found, unfinished = [], []
    for config in sorted(root.rglob("config.json")):
        (found if run_status(config.parent) == "finished" else unfinished).append(config.parent)
    if unfinished:
        warnings.warn(f"skipped {len(unfinished)} unfinished run folder(s): "
                      + ", ".join(str(p.relative_to(root)) for p in unfinished), stacklevel=2)
    return found


def _run_columns(root: Path, run: Path) -> dict:
    """``run`` (the folder relative to ``root``, ``/``-separated) and every config field
    (tuples joined with commas)."""
    config = json.loads((run / "config.json").read_text())
    flat = {k: ",".join(v) if isinstance(v, list) else v for k, v in config.items()}
    return {"run": run.relative_to(root).as_posix(), **flat}


def collect_runs(root: Path | str) -> pd.DataFrame:
    """Retrieval results of every finished run under ``root``: one row per (run, condition).

    Columns: ``run``, every :class:`~svl_lib.experiment.ExperimentConfig` field, ``condition``
    (clean, shortcut, image_only, caption_only), the metrics of :mod:`svl_lib.retrieval`
    (``i2t_r1`` ... ``rsum``, ranks), ``chance_rsum``, ``train_seconds``, ``steps``,
    ``final_loss``.
    """
    root = Path(root)
    rows = []
    for run in run_folders(root):
        metrics = json.loads((run / "metrics.json").read_text())
        keys = _run_columns(root, run)
        extra = {"chance_rsum": metrics["chance"]["rsum"], "train_seconds": metrics["train_seconds"],
                 "steps": metrics["steps"], "final_loss": metrics["final_loss"]}
        rows += [{**keys, "condition": c, **values, **extra} for c, values in metrics["eval"].items()]
    return pd.DataFrame(rows)


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
        metrics = json.loads((run / "metrics.json").read_text())
        keys = _run_columns(root, run)
        rows += [{**keys, **p, "gain": p["accuracy"] - p["majority"]} for p in metrics.get("probes", [])]
    return pd.DataFrame(rows)

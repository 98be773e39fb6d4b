"""Read run folders back: metrics and training history as pandas tables."""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd


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

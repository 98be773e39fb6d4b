"""Does a loss take the shortcut? The same toy runs (a baseline and a unique-shortcut model,
several seeds) compared across losses (notebook 03: InfoNCE against SigLIP's sigmoid loss):
clean RSUM, RSUM with the shortcut, and which attributes the image tower stops encoding."""
from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd
from scipy import stats

from .intervals import welch_difference


def _rsum(runs: Sequence[dict], condition: str) -> list[float]:
    return [m["eval"][condition]["rsum"] for m in runs]


def image_probes(runs: Sequence[dict]) -> pd.DataFrame:
    """Image-probe accuracy (%) per attribute (columns) and seed (rows) of ``runs``."""
    return pd.DataFrame([{p["target"]: 100.0 * p["accuracy"] for p in m["probes"]
                          if p["modality"] == "image" and p["kind"] == "attribute"} for m in runs])


def takes_the_shortcut(baseline: Sequence[dict], shortcut: Sequence[dict], threshold: float = 400.0) -> dict:
    """One loss's row: the Welch interval of clean RSUM (shortcut model minus baseline), the shortcut
    model's RSUM with the shortcut, the mean drop of the attribute image probes, and the verdict:
    "takes the shortcut" when clean RSUM falls (the whole interval below 0) while the model matches
    by the number (RSUM with it at least ``threshold``), "not shown" otherwise."""
    with_shortcut = float(np.mean(_rsum(shortcut, "shortcut")))
    row = {"seeds": len(baseline) if len(baseline) == len(shortcut) else f"{len(baseline)} and {len(shortcut)}",
           "clean RSUM, baseline": round(float(np.mean(_rsum(baseline, "clean"))), 1),
           "clean RSUM, shortcut model": round(float(np.mean(_rsum(shortcut, "clean"))), 1),
           "shortcut RSUM": round(with_shortcut, 1),
           "rule": f"clean interval below 0 and shortcut RSUM >= {threshold:g}"}
    if min(len(baseline), len(shortcut)) < 2:
        return {**row, "clean RSUM difference": "—", "image probe difference (points)": "—",
                "verdict": "not testable here (an interval needs 2 seeds per model)"}
    clean = welch_difference(_rsum(baseline, "clean"), _rsum(shortcut, "clean"))
    probe = welch_difference(image_probes(baseline).mean(axis=1), image_probes(shortcut).mean(axis=1))
    taken = clean.high < 0 and with_shortcut >= threshold
    return {**row, "clean RSUM difference": str(clean), "image probe difference (points)": str(probe),
            "verdict": "takes the shortcut" if taken else "not shown"}


def shortcut_by_loss(runs: Mapping[str, tuple[Sequence[dict], Sequence[dict]]],
                     threshold: float = 400.0) -> pd.DataFrame:
    """:func:`takes_the_shortcut` per loss; ``runs[loss] = (baseline runs, shortcut runs)``."""
    columns = ["seeds", "clean RSUM, baseline", "clean RSUM, shortcut model", "clean RSUM difference",
               "shortcut RSUM", "image probe difference (points)", "verdict", "rule"]
    return pd.DataFrame({loss: takes_the_shortcut(base, short, threshold)
                         for loss, (base, short) in runs.items()}).T[columns]


def suppressed_attributes(runs: Mapping[str, tuple[Sequence[dict], Sequence[dict]]]) -> tuple[pd.DataFrame, float]:
    """Per attribute (rows) and loss (columns): the image probe's mean drop in points (baseline minus
    shortcut model), and Spearman's rho between the first two losses' drops: near 1, the shortcut
    suppresses the same attributes under both losses."""
    drops = pd.DataFrame({loss: image_probes(base).mean() - image_probes(short).mean()
                          for loss, (base, short) in runs.items()}).round(1)
    first, second = drops.columns[:2]
    return drops, float(stats.spearmanr(drops[first], drops[second]).statistic)

"""Tables and figures of the mitigation notebooks (03-05): seeds summarised, sweeps, LTD curves.

A *setting* is one configuration trained with several seeds; its runs' ``metrics.json`` dicts
are summarised as mean ± std (sample std, ``ddof=1``) over the seeds of:

- ``clean RSUM`` / ``shortcut RSUM``: retrieval on the clean test split / with the test shortcut;
- ``probe image`` / ``probe caption``: mean linear-probe accuracy (%) over the toy world's
  attributes, from the frozen image embeddings / from the captions that name the attribute
  (``caption_naming``), when the run holds probes (``metrics["probes"]``, :mod:`svl_lib.probes`).
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

PROBE_COLUMNS = {"probe image": "image", "probe caption": "caption_naming"}


def run_summary(metrics: dict) -> dict[str, float]:
    """The numbers of one run: clean / shortcut RSUM and the mean attribute probe accuracies (%)."""
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
    """Long table: one row per (setting, seed) with :func:`run_summary`'s columns."""
    rows = [{"setting": name, "seed": seed, **run_summary(m)}
            for name, seeds in runs.items() for seed, m in enumerate(seeds)]
    return pd.DataFrame(rows)


def mitigation_table(runs: dict[str, Sequence[dict]], decimals: int = 1) -> pd.DataFrame:
    """One row per setting (in the dict's order), each column ``"mean ± std"`` over its seeds."""
    long = seed_table(runs)
    columns = [c for c in long.columns if c not in ("setting", "seed")]
    grouped = long.groupby("setting", sort=False)[columns]
    mean, std = grouped.mean(), grouped.std(ddof=1).fillna(0.0)
    table = mean.copy().astype(object)
    for c in columns:
        table[c] = [f"{m:.{decimals}f} ± {s:.{decimals}f}" for m, s in zip(mean[c], std[c])]
    table.insert(0, "seeds", grouped.size())
    return table


def sweep_plot(values: Sequence[float], metrics: dict[str, Sequence[dict]], xlabel: str,
               reference: dict[str, dict] | None = None, logx: bool = False) -> plt.Figure:
    """Clean RSUM (left) and mean image probe accuracy (right, when probes exist) against a swept
    value, one line per series (``metrics[name][i]`` belongs to ``values[i]``); ``reference``
    runs (e.g. the baseline) are drawn as horizontal lines."""
    has_probes = any("probes" in m for ms in metrics.values() for m in ms)
    fig, axes = plt.subplots(1, 2 if has_probes else 1, figsize=(10 if has_probes else 5, 3.2),
                             squeeze=False)
    panels = [("clean RSUM", "clean RSUM (max 600)")]
    if has_probes:
        panels.append(("probe image", "image probe accuracy (%)"))
    for ax, (column, label) in zip(axes[0], panels):
        for name, ms in metrics.items():
            ax.plot(values, [run_summary(m).get(column, np.nan) for m in ms], "o-", label=name)
        for k, (name, m) in enumerate((reference or {}).items()):
            ax.axhline(run_summary(m).get(column, np.nan), ls="--", color=f"C{k + len(metrics)}",
                       label=name)
        ax.set(xlabel=xlabel, ylabel=label, xscale="log" if logx else "linear")
    axes[0][0].legend(fontsize=8)
    fig.tight_layout()
    return fig


def ltd_curves(histories: dict[str, pd.DataFrame], bound: dict[str, float] | None = None,
               window: int = 5) -> plt.Figure:
    """LTD over training: reconstruction loss ``rec`` (left, with each run's bound eta dashed)
    and the multiplier ``lambda`` (right, constrained runs only), a moving average of ``window``
    steps per run."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for k, (name, h) in enumerate(histories.items()):
        axes[0].plot(h["step"], h["rec"].rolling(window, min_periods=1).mean(), color=f"C{k}",
                     label=name)
        if bound and name in bound:
            axes[0].axhline(bound[name], ls="--", color=f"C{k}", lw=1)
        if "lambda" in h:
            axes[1].plot(h["step"], h["lambda"], color=f"C{k}", label=name)
    axes[0].set(xlabel="step", ylabel="L_rec = 1 - cos", title="reconstruction loss (dashed: bound η)")
    axes[1].set(xlabel="step", ylabel="λ", title="Lagrange multiplier")
    axes[0].legend(fontsize=8)
    fig.tight_layout()
    return fig

"""The course's standard figures (matplotlib + seaborn); each function returns the figure.

Examples and the 2x2 table (notebook 01), strength and probe curves over run tables (02, from
:mod:`svl_lib.results`), and the mitigation figures (03-05): :func:`sweep_plot` over one
:func:`~svl_lib.results.run_summary` per swept value, :func:`ltd_curves` over training histories.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .data.corpus import Corpus
from .paths import figures_dir
from .results import run_summary
from .shortcuts import ShortcutInjector


def save_figure(fig: plt.Figure, name: str) -> None:
    """Save ``fig`` as ``<figures_dir>/<name>.png``."""
    fig.savefig(figures_dir() / f"{name}.png", dpi=120, bbox_inches="tight")


def show_examples(corpus: Corpus, indices: Sequence[int], injector: ShortcutInjector | None = None,
                  epoch: int = 0, item: int = 0, captions: str = "first", width: int = 4) -> plt.Figure:
    """A grid of images with their captions (``captions="first"`` or ``"all"``), with the shortcut
    of ``(epoch, item)`` drawn when an injector is given."""
    rows = int(np.ceil(len(indices) / width))
    fig, axes = plt.subplots(rows, width, figsize=(3.2 * width, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, indices):
        image = corpus.load_image(i)
        texts = corpus.captions[i] if captions == "all" else [corpus.captions[i][item]]
        if injector is not None:
            number = injector.number(i, epoch, item)
            if number is not None:
                image = injector.render_image(image, number, i, epoch, item)
                texts = [injector.render_caption(t, number) for t in texts]
        ax.imshow(image, interpolation="nearest")
        ax.set_title("\n".join(texts), fontsize=8)
    fig.tight_layout()
    return fig


def heatmap_2x2(table: pd.DataFrame, chance: float, title: str = "RSUM (max 600)") -> plt.Figure:
    """Heatmap of the train x evaluate table, with the chance level in the title."""
    fig, ax = plt.subplots(figsize=(5.5, 3.2))
    sns.heatmap(table, annot=True, fmt=".0f", cmap="viridis", vmin=0, vmax=600, ax=ax,
                cbar_kws={"label": "RSUM"})
    ax.set_title(f"{title}; chance = {chance:.0f}")
    ax.set_ylabel("trained")
    fig.tight_layout()
    return fig


def training_curves(histories: dict[str, pd.DataFrame]) -> plt.Figure:
    """Loss and logit scale against the step, one line per run."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.2))
    for name, h in histories.items():
        axes[0].plot(h["step"], h["loss"], label=name)
        axes[1].plot(h["step"], h["logit_scale"], label=name)
    axes[0].set(xlabel="step", ylabel="InfoNCE loss", title="training loss")
    axes[1].set(xlabel="step", ylabel="logit scale (1/temperature)", title="logit scale")
    axes[0].legend()
    fig.tight_layout()
    return fig


CONDITION_LABELS = {"clean": "evaluated without shortcut", "shortcut": "evaluated with shortcut",
                    "image_only": "shortcut on image only", "caption_only": "shortcut on caption only"}


def strength_curve(runs: pd.DataFrame, x: str, metric: str = "rsum",
                   conditions: Sequence[str] = ("clean", "shortcut"), chance: float | None = None,
                   ax: plt.Axes | None = None, title: str | None = None) -> plt.Figure:
    """``metric`` against the swept config key ``x``, one line per evaluation condition (the
    paper's bits figure). ``runs`` is a :func:`svl_lib.results.collect_runs` table."""
    data = runs[runs["condition"].isin(conditions)].copy()
    data["evaluation"] = data["condition"].map(CONDITION_LABELS)
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
    sns.lineplot(data=data, x=x, y=metric, hue="evaluation", marker="o", ax=ax)
    if chance is not None:
        ax.axhline(chance, color="grey", ls=":", label="chance")
    ax.set(xlabel=x, ylabel=metric.upper() if metric == "rsum" else metric, title=title)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


def probe_bars(probes: pd.DataFrame, hue: str, modality: str = "image",
               title: str | None = None) -> plt.Figure:
    """Probe accuracy per target (bars, one colour per value of the ``hue`` column) with the
    majority baseline as a black tick on each target. ``probes`` is a
    :func:`svl_lib.results.collect_probes` table."""
    data = probes[probes["modality"] == modality]
    targets = list(dict.fromkeys(data["target"]))
    fig, ax = plt.subplots(figsize=(1.0 * len(targets) + 2, 3.6))
    sns.barplot(data=data, x="target", y="accuracy", hue=hue, order=targets, ax=ax)
    majority = data.groupby("target")["majority"].max().reindex(targets)
    ax.scatter(range(len(targets)), majority, marker="_", s=600, color="black", zorder=3,
               label="majority baseline")
    ax.set(ylim=(0, 1.05), xlabel="", ylabel=f"{modality} probe accuracy", title=title)
    ax.legend(fontsize=8, loc="upper left")
    fig.tight_layout()
    return fig


def probe_curve(probes: pd.DataFrame, x: str, modality: str = "image",
                targets: Sequence[str] | None = None, ax: plt.Axes | None = None,
                title: str | None = None) -> plt.Figure:
    """Probe accuracy above the majority baseline (``gain``) against the swept key ``x``, one
    line per target."""
    data = probes[probes["modality"] == modality]
    if targets is not None:
        data = data[data["target"].isin(targets)]
    if ax is None:
        fig, ax = plt.subplots(figsize=(5.5, 3.6))
    sns.lineplot(data=data, x=x, y="gain", hue="target", marker="o", ax=ax)
    ax.axhline(0, color="grey", ls=":")
    ax.set(xlabel=x, ylabel=f"{modality} probe: accuracy - majority", title=title)
    ax.legend(fontsize=8)
    ax.figure.tight_layout()
    return ax.figure


def sweep_plot(values: Sequence[float], metrics: dict[str, Sequence[dict]], xlabel: str,
               reference: dict[str, dict] | None = None, logx: bool = False) -> plt.Figure:
    """Clean RSUM (left) and mean image probe accuracy in % (right, when any run has probes)
    against a swept value, one line per series (``metrics[name][i]``, a ``metrics.json`` dict,
    belongs to ``values[i]``; one run per point, no averaging over seeds); ``reference`` runs
    (e.g. the baseline) are drawn as dashed horizontal lines."""
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
    """LTD over training (:func:`~svl_lib.results.load_history` tables): the reconstruction loss
    ``rec`` (left, moving average over ``window`` steps, with each run's bound η in ``bound``
    dashed) and the Lagrange multiplier ``lambda`` (right, raw, for runs whose history has it:
    the constrained ones)."""
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

"""The course's standard figures (matplotlib + seaborn)."""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns

from .data.corpus import Corpus
from .paths import figures_dir
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

"""The course's standard figures (matplotlib + seaborn); each function returns the figure.

Examples and the 2x2 table (notebook 01), strength and probe curves over run tables (02, from
:mod:`svl_lib.experiments.results`), and the mitigation figures (03-05): :func:`sweep_plot` over one
:func:`~svl_lib.experiments.results.run_summary` per swept value, :func:`ltd_curves` over training histories.
"""
from __future__ import annotations

from collections.abc import Sequence

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib.ticker import FuncFormatter, NullFormatter

from ..corpus import Corpus
from ..transforms import PrepareFn
from ..paths import figures_dir
from ..experiments.results import run_summary
from ..shortcuts import ShortcutInjector


def save_figure(fig: plt.Figure, name: str) -> None:
    """Save ``fig`` as ``<figures_dir>/<name>.png``."""
    fig.savefig(figures_dir() / f"{name}.png", dpi=120, bbox_inches="tight")


def show_examples(corpus: Corpus, indices: Sequence[int], injector: ShortcutInjector | None = None,
                  epoch: int = 0, item: int = 0, captions: str = "first", width: int = 4,
                  prepare: PrepareFn | None = None) -> plt.Figure:
    """A grid of images with their captions (``captions="first"`` or ``"all"``), with the shortcut
    of ``(epoch, item)`` drawn when an injector is given, after the model's geometric transform
    ``prepare`` (e.g. CLIP's resize and crop to 224 px) when one is given."""
    rows = int(np.ceil(len(indices) / width))
    fig, axes = plt.subplots(rows, width, figsize=(3.2 * width, 3.4 * rows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, i in zip(axes.flat, indices):
        image = corpus.load_image(i)
        if prepare is not None:
            image = prepare(image)
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
    paper's bits figure). ``runs`` is a :func:`svl_lib.experiments.results.collect_runs` table."""
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
    :func:`svl_lib.experiments.results.collect_probes` table."""
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
    """RSUM (left: clean, solid; with the shortcut, dotted) and mean image probe accuracy in %
    (right, 0-100, when any run has probes) against a swept value, one colour per series
    (``metrics[name][i]``, a ``metrics.json`` dict, belongs to ``values[i]``; one run per point, no
    averaging over seeds); ``reference`` runs (e.g. the baseline) are drawn as dashed horizontal
    lines (clean RSUM and probe). Ticks sit at the swept values; legends go below the panels."""
    has_probes = any("probes" in m for ms in metrics.values() for m in ms)
    fig, axes = plt.subplots(1, 2 if has_probes else 1, figsize=(10 if has_probes else 5, 3.6),
                             squeeze=False)
    rsum_ax = axes[0][0]
    for k, (name, ms) in enumerate(metrics.items()):
        rows = [run_summary(m) for m in ms]
        rsum_ax.plot(values, [r["clean RSUM"] for r in rows], "o-", color=f"C{k}", label=f"{name}, clean")
        if all("shortcut RSUM" in r for r in rows):
            rsum_ax.plot(values, [r["shortcut RSUM"] for r in rows], "s:", color=f"C{k}",
                         label=f"{name}, with shortcut")
        if has_probes:
            axes[0][1].plot(values, [r.get("probe image", np.nan) for r in rows], "o-", color=f"C{k}",
                            label=name)
    for k, (name, m) in enumerate((reference or {}).items(), start=len(metrics)):
        row = run_summary(m)
        rsum_ax.axhline(row["clean RSUM"], ls="--", color=f"C{k}", label=f"{name}, clean")
        if has_probes:
            axes[0][1].axhline(row.get("probe image", np.nan), ls="--", color=f"C{k}", label=name)
    rsum_ax.set(ylabel="RSUM (max 600)", ylim=(0, 600))
    if has_probes:
        axes[0][1].set(ylabel="image probe accuracy (%)", ylim=(0, 100))
    for ax in axes[0]:
        ax.set(xlabel=xlabel, xscale="log" if logx else "linear")
        _ticks_at(ax, values)
        ax.legend(fontsize=7, loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=2, frameon=False)
    fig.tight_layout()
    return fig


def _ticks_at(ax: plt.Axes, values: Sequence[float]) -> None:
    """Ticks at exactly ``values``, labelled plainly (no overlapping minor labels on a log axis)."""
    ax.set_xticks(list(values))
    ax.xaxis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
    ax.xaxis.set_minor_formatter(NullFormatter())


def ltd_curves(histories: dict[str, pd.DataFrame], bound: dict[str, float] | None = None,
               window: int = 5) -> plt.Figure:
    """LTD over training (:func:`~svl_lib.experiments.results.load_history` tables): the reconstruction loss
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


def framework_diagram() -> plt.Figure:
    """The SVL framework at a glance: one number written on the image (digit tiles) and on every
    caption (digit tokens), two towers, the contrastive loss, and where LTD and IFM act."""
    fig, ax = plt.subplots(figsize=(11, 4.2))
    ax.set(xlim=(0, 11), ylim=(0, 4.2))
    ax.axis("off")
    boxes = {
        "number": (0.2, 1.8, "shortcut number\n0 0 4 2\n(unique per image,\nor n_bits of it)", "#f6d55c"),
        "image": (2.5, 2.8, "image + digit tiles\nalong the top edge", "#a6cee3"),
        "caption": (2.5, 0.6, "caption + digit tokens\n\"a red circle … 0 0 4 2\"", "#b2df8a"),
        "img_enc": (5.0, 2.8, "image encoder\n→ z_img (L2-normalised)", "#a6cee3"),
        "txt_enc": (5.0, 0.6, "text encoder\n→ z_cap (L2-normalised)", "#b2df8a"),
        "loss": (7.7, 1.7, "contrastive loss\nInfoNCE / triplet on\nS = z_img · z_capᵀ", "#fb9a99"),
        "ltd": (7.7, 0.1, "LTD: decode z_cap to a sentence\nencoder's target; λ(L_rec/η − 1)\nadded to the loss", "#cab2d6"),
        "ifm": (7.7, 3.2, "IFM: positives − ε,\nnegatives + ε in S", "#cab2d6"),
    }
    width, height = 2.1, 0.95
    for x, y, text, colour in boxes.values():
        ax.add_patch(plt.matplotlib.patches.FancyBboxPatch(
            (x, y), width, height, boxstyle="round,pad=0.05", fc=colour, ec="black", lw=0.8))
        ax.text(x + width / 2, y + height / 2, text, ha="center", va="center", fontsize=8.5)

    def arrow(start: str, end: str, style: str = "-|>") -> None:
        (x0, y0, *_), (x1, y1, *_) = boxes[start], boxes[end]
        ax.annotate("", xy=(x1, y1 + height / 2), xytext=(x0 + width, y0 + height / 2),
                    arrowprops={"arrowstyle": style, "lw": 1.2, "color": "black"})

    for start, end in [("number", "image"), ("number", "caption"), ("image", "img_enc"),
                       ("caption", "txt_enc"), ("img_enc", "loss"), ("txt_enc", "loss"),
                       ("txt_enc", "ltd")]:
        arrow(start, end)
    x, y, *_ = boxes["ifm"]
    ax.annotate("", xy=(x + width / 2, boxes["loss"][1] + height), xytext=(x + width / 2, y),
                arrowprops={"arrowstyle": "-|>", "lw": 1.2, "color": "black"})
    ax.set_title("SVL: the same number on both sides is enough to match every pair; "
                 "does the model still learn the content?", fontsize=10)
    fig.tight_layout()
    return fig

"""Pictures of retrieval: what a model ranks first for a few queries, with and without the shortcut.

:func:`top_k` reads the ranking of one query from encoded features
(:class:`~svl_lib.evaluate.conditions.Features`): image->text, the ``k`` captions of the split most similar to
an image; text->image, the ``k`` images most similar to a caption; each marked correct when it
belongs to the query (any of the image's captions; the caption's one image). Ties keep the split's
order (a picture, not a score: the scores of :mod:`svl_lib.evaluate.retrieval` count ties against the query).

:func:`caption_gallery` draws, per query image, its top captions for every model and condition;
:func:`image_gallery`, per query caption, its top images. Under a condition with the shortcut the
image carries its number and the captions their digits, as the evaluation sees them.
"""
from __future__ import annotations

import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import matplotlib.pyplot as plt
import torch

from ..corpus import Corpus
from ..transforms import PrepareFn
from ..data.loading import eval_captions, load_image
from ..evaluate.conditions import CONDITIONS, Features
from ..shortcuts import ShortcutInjector

DIRECTIONS = ("i2t", "t2i")
RIGHT, WRONG = "tab:green", "tab:red"
TEXT_WIDTH, CHARS = 3.0, 40  # a caption panel's width (inches) and the characters of its lines


@dataclass(frozen=True)
class Ranked:
    """The top ``k`` of one query: indices into the split's captions (``i2t``, image-major as
    :func:`~svl_lib.data.loading.eval_captions`) or images (``t2i``), best first, and which of them
    belong to the query."""

    indices: list[int]
    correct: list[bool]


def top_k(features: Features, condition: str, query: int, k: int = 5, direction: str = "i2t") -> Ranked:
    """The ``k`` best of image ``query`` (``i2t``) or caption ``query`` (``t2i``) under ``condition``."""
    if direction not in DIRECTIONS:
        raise ValueError(f"direction must be one of {DIRECTIONS}, got {direction!r}")
    if condition not in features.conditions:
        raise ValueError(f"condition {condition!r} was not encoded; these were: {features.conditions}")
    on_image, on_caption = CONDITIONS[condition]
    images, texts, owner = features.images[on_image], features.texts[on_caption], features.text_to_image
    n = len(images) if direction == "t2i" else len(texts)
    if not 1 <= k <= n:
        raise ValueError(f"k must be in [1, {n}], got {k}")
    if direction == "i2t":
        scores = texts @ images[query]
        order = _stable_top(scores, k)
        return Ranked(order, [int(owner[i]) == query for i in order])
    scores = images @ texts[query]
    order = _stable_top(scores, k)
    return Ranked(order, [i == int(owner[query]) for i in order])


def _stable_top(scores: torch.Tensor, k: int) -> list[int]:
    """Indices of the ``k`` highest scores, ties in index order."""
    return torch.sort(scores, descending=True, stable=True).indices[:k].tolist()


def _image(corpus: Corpus, injector: ShortcutInjector | None, i: int, on_image: bool,
           prepare: PrepareFn | None):
    image = load_image(corpus, i, None)
    if prepare is not None:
        image = prepare(image)
    if on_image and injector is not None:
        image = injector.render_image(image, injector.number(i), i)
    return image


def _captions(corpus: Corpus, injector: ShortcutInjector | None, on_caption: bool) -> list[str]:
    return eval_captions(corpus, injector if on_caption else None)[0]


def _check(features: Mapping[str, Features], conditions: Sequence[str], injector: ShortcutInjector | None) -> None:
    if not features:
        raise ValueError("give at least one model's features, e.g. {'baseline': features}")
    if injector is None and any(c != "clean" for c in conditions):
        raise ValueError("conditions other than 'clean' need the evaluation injector the features were encoded with")


def caption_gallery(corpus: Corpus, injector: ShortcutInjector | None, features: Mapping[str, Features],
                    queries: Sequence[int], conditions: Sequence[str] = ("clean", "shortcut"), k: int = 5,
                    prepare: PrepareFn | None = None) -> plt.Figure:
    """Image->text: one row per query image; per condition the image as evaluated, then each model's
    top ``k`` captions (correct ones green and ticked)."""
    _check(features, conditions, injector)
    width = len(conditions) * (1 + len(features))
    ratios = [1.3, *[TEXT_WIDTH] * len(features)] * len(conditions)
    fig, axes = plt.subplots(len(queries), width, figsize=(sum(ratios), 2.4 * len(queries)),
                             squeeze=False, gridspec_kw={"width_ratios": ratios})
    for ax in axes.flat:
        ax.axis("off")
    for row, query in enumerate(queries):
        for c, condition in enumerate(conditions):
            on_image, on_caption = CONDITIONS[condition]
            col = c * (1 + len(features))
            axes[row, col].imshow(_image(corpus, injector, query, on_image, prepare), interpolation="nearest")
            axes[row, col].set_title(f"image {query}, {condition}", fontsize=8)
            texts = _captions(corpus, injector, on_caption)
            for m, (name, feats) in enumerate(features.items()):
                ranked = top_k(feats, condition, query, k, "i2t")
                ax = axes[row, col + 1 + m]
                ax.set_title(f"{name}: top {k} captions", fontsize=8)
                for line, (i, right) in enumerate(zip(ranked.indices, ranked.correct)):
                    text = textwrap.fill(f"{'✓' if right else '✗'} {texts[i]}", CHARS, subsequent_indent="   ")
                    ax.text(0, 1 - (line + 0.5) / k, text, fontsize=7, linespacing=1.0,
                            color=RIGHT if right else WRONG, va="center", transform=ax.transAxes)
    fig.tight_layout()
    return fig


def image_gallery(corpus: Corpus, injector: ShortcutInjector | None, features: Mapping[str, Features],
                  queries: Sequence[int], conditions: Sequence[str] = ("clean", "shortcut"), k: int = 5,
                  prepare: PrepareFn | None = None) -> plt.Figure:
    """Text->image: one row per query caption, model and condition: the caption as evaluated, then
    the model's top ``k`` images (the caption's own image framed green, the others red)."""
    _check(features, conditions, injector)
    rows = [(q, name, c) for q in queries for name in features for c in conditions]
    fig, axes = plt.subplots(len(rows), k + 1, figsize=(TEXT_WIDTH + 1.9 * k, 1.9 * len(rows)), squeeze=False,
                             gridspec_kw={"width_ratios": [TEXT_WIDTH, *[1.9] * k]})
    for row, (query, name, condition) in enumerate(rows):
        on_image, on_caption = CONDITIONS[condition]
        text_ax = axes[row, 0]
        text_ax.axis("off")
        caption = textwrap.fill(_captions(corpus, injector, on_caption)[query], CHARS)
        text_ax.text(0, 0.5, f"{name}, {condition}:\n{caption}", fontsize=8, va="center",
                     transform=text_ax.transAxes)
        ranked = top_k(features[name], condition, query, k, "t2i")
        for j, (i, right) in enumerate(zip(ranked.indices, ranked.correct)):
            ax = axes[row, 1 + j]
            ax.imshow(_image(corpus, injector, i, on_image, prepare), interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            for spine in ax.spines.values():
                spine.set_edgecolor(RIGHT if right else WRONG)
                spine.set_linewidth(3 if right else 1)
            ax.set_title(f"#{j + 1}: image {i}", fontsize=7)
    fig.tight_layout()
    return fig

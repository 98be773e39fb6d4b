"""Evaluate a trained model on a split under the shortcut conditions.

Protocol (the paper's, without its re-encoding): every image of the split is encoded **once** and
every caption once; recall@k, RSUM and ranks follow :mod:`svl_lib.retrieval` (image->text: a hit
when *any* of the image's captions is in the top k; text->image: the rank of the caption's one
image; ties count against the query). The evaluation shortcut of an image is fixed: its number is
the image's index in the split (unique mode; ``index % 2**n_bits`` in bits mode) and its glyphs
are fixed by the seed, so every condition and every rerun sees the same pixels.

Conditions (image gets the shortcut, caption gets the shortcut):
``clean`` (no, no), ``shortcut`` (yes, yes), ``image_only`` (yes, no), ``caption_only`` (no, yes).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Callable

import torch

from .data.corpus import Corpus
from .data.loading import PrepareFn, TensorFn, eval_captions, eval_images
from .models.base import ContrastiveModel
from .retrieval import chance_metrics, retrieval_metrics
from .shortcuts import ShortcutInjector

CONDITIONS: dict[str, tuple[bool, bool]] = {
    "clean": (False, False),
    "shortcut": (True, True),
    "image_only": (True, False),
    "caption_only": (False, True),
}


@torch.no_grad()
def encode_images(model: ContrastiveModel, n_images: int, load: Callable[[int], torch.Tensor],
                  batch_size: int = 256) -> torch.Tensor:
    """``(n_images, D)`` features of ``load(0..n-1)``, on the CPU."""
    model.eval()
    out = []
    for start in range(0, n_images, batch_size):
        batch = torch.stack([load(i) for i in range(start, min(start + batch_size, n_images))])
        out.append(model.encode_image(batch.to(model.device)).float().cpu())
    return torch.cat(out)


@torch.no_grad()
def encode_texts(model: ContrastiveModel, texts: list[str], batch_size: int = 1024) -> torch.Tensor:
    """``(len(texts), D)`` caption features, on the CPU."""
    model.eval()
    out = [model.encode_text(model.tokenize(texts[s:s + batch_size])).float().cpu()
           for s in range(0, len(texts), batch_size)]
    return torch.cat(out)


def evaluate(model: ContrastiveModel, corpus: Corpus, injector: ShortcutInjector | None = None,
             conditions: Sequence[str] = ("clean",), prepare: PrepareFn | None = None,
             tensor: TensorFn | None = None, batch_size: int = 256) -> dict[str, dict[str, float]]:
    """Retrieval metrics per condition: ``{"clean": {"i2t_r1": ..., "rsum": ...}, ...}``.

    ``injector`` must be an evaluation injector (``evaluation=True``) over this split; it is
    needed for every condition but ``clean``.
    """
    unknown = [c for c in conditions if c not in CONDITIONS]
    if unknown:
        raise ValueError(f"unknown evaluation condition(s) {unknown}; choose from {list(CONDITIONS)}")
    if injector is None and any(c != "clean" for c in conditions):
        raise ValueError("conditions other than 'clean' need a shortcut injector (evaluation=True)")
    if injector is not None and not injector.evaluation:
        raise ValueError("evaluate() needs an evaluation injector: ShortcutInjector(..., evaluation=True)")
    kwargs = {} if tensor is None else {"tensor": tensor}
    images: dict[bool, torch.Tensor] = {}
    texts: dict[bool, torch.Tensor] = {}
    owners: list[int] = []
    for name in conditions:
        on_image, on_caption = CONDITIONS[name]
        if on_image not in images:
            load = eval_images(corpus, injector if on_image else None, prepare, **kwargs)
            images[on_image] = encode_images(model, corpus.n_images, load, batch_size)
        if on_caption not in texts:
            captions, owners = eval_captions(corpus, injector if on_caption else None)
            texts[on_caption] = encode_texts(model, captions)
    owner_t = torch.tensor(owners)
    return {name: retrieval_metrics(images[CONDITIONS[name][0]], texts[CONDITIONS[name][1]], owner_t)
            for name in conditions}


def chance_level(corpus: Corpus) -> dict[str, float]:
    """Expected metrics of random scores on this split (recalls and RSUM)."""
    return chance_metrics([len(c) for c in corpus.captions])

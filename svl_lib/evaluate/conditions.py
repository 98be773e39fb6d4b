"""Evaluate a trained model on a split under the shortcut conditions.

Protocol (the paper's, without its re-encoding): every image of the split is encoded **once** and
every caption once; recall@k, RSUM and ranks follow :mod:`svl_lib.evaluate.retrieval` (image->text: a hit
when *any* of the image's captions is in the top k; text->image: the rank of the caption's one
image; ties count against the query). The evaluation shortcut of an image is fixed: its number is
the image's index in the split (unique mode; ``index % 2**n_bits`` in bits mode) and its glyphs
are fixed by the seed, so every condition and every rerun sees the same pixels.

Conditions (image gets the shortcut, caption gets the shortcut):
``clean`` (no, no), ``shortcut`` (yes, yes), ``image_only`` (yes, no), ``caption_only`` (no, yes).
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch.utils.data import DataLoader, Dataset

from ..corpus import Corpus
from ..transforms import PrepareFn, TensorFn
from ..data.loading import eval_captions, eval_images
from ..models.base import ContrastiveModel
from .retrieval import chance_metrics, retrieval_metrics
from ..shortcuts import ShortcutInjector

CONDITIONS: dict[str, tuple[bool, bool]] = {
    "clean": (False, False),
    "shortcut": (True, True),
    "image_only": (True, False),
    "caption_only": (False, True),
}


@torch.no_grad()
def encode_images(model: ContrastiveModel, images: Dataset, batch_size: int = 256,
                  num_workers: int = 0) -> torch.Tensor:
    """``(len(images), D)`` features, on the CPU, in batches through a DataLoader (``num_workers``
    processes decode and transform while the model encodes). In float32, also on a GPU, where
    training runs in bf16: the paper evaluates in fp32, and rankings of near-ties can flip in bf16."""
    model.eval()
    loader = DataLoader(images, batch_size=batch_size, num_workers=num_workers,
                        pin_memory=model.device.type == "cuda")
    out = []
    for batch in loader:
        out.append(model.encode_image(batch.to(model.device, non_blocking=True)).float().cpu())
    return torch.cat(out)


@torch.no_grad()
def encode_texts(model: ContrastiveModel, texts: list[str], batch_size: int = 1024) -> torch.Tensor:
    """``(len(texts), D)`` caption features, on the CPU, in float32 (as :func:`encode_images`)."""
    model.eval()
    out = []
    for start in range(0, len(texts), batch_size):
        out.append(model.encode_text(model.tokenize(texts[start:start + batch_size])).float().cpu())
    return torch.cat(out)


def encode_conditions(model: ContrastiveModel, corpus: Corpus, injector: ShortcutInjector | None = None,
                      conditions: Sequence[str] = ("clean",), prepare: PrepareFn | None = None,
                      tensor: TensorFn | None = None, batch_size: int = 256,
                      num_workers: int = 0) -> Features:
    """Image and caption features of the split for ``conditions``, each encoded once.

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
    features = Features(list(conditions))
    for name in conditions:
        on_image, on_caption = CONDITIONS[name]
        if on_image not in features.images:
            load = eval_images(corpus, injector if on_image else None, prepare, **kwargs)
            features.images[on_image] = encode_images(model, load, batch_size, num_workers)
        if on_caption not in features.texts:
            captions, owners = eval_captions(corpus, injector if on_caption else None)
            features.texts[on_caption] = encode_texts(model, captions)
            features.text_to_image = torch.tensor(owners)
    return features


@dataclass
class Features:
    """Encoded split: image features per "image has the shortcut", caption features per "caption
    has it", and the image of each caption (``text_to_image``, as :func:`retrieval_metrics` names it)."""

    conditions: list[str]
    images: dict[bool, torch.Tensor] = field(default_factory=dict)
    texts: dict[bool, torch.Tensor] = field(default_factory=dict)
    text_to_image: torch.Tensor = field(default_factory=lambda: torch.empty(0, dtype=torch.long))

    def score(self, folds: int = 1) -> dict[str, dict[str, float]]:
        """Retrieval metrics per condition, over the whole split (``folds=1``) or averaged over
        ``folds`` contiguous folds of images with their captions (COCO's 1k protocol: 5 folds of
        the 5k test images)."""
        n = len(next(iter(self.images.values())))
        if not 1 <= folds <= n:
            raise ValueError(f"folds must be in [1, {n}] for {n} images, got {folds}")
        bounds = torch.linspace(0, n, folds + 1).round().long().tolist()
        result = {}
        for name in self.conditions:
            on_image, on_caption = CONDITIONS[name]
            per_fold = []
            for lo, hi in zip(bounds[:-1], bounds[1:]):
                keep = (self.text_to_image >= lo) & (self.text_to_image < hi)
                per_fold.append(retrieval_metrics(self.images[on_image][lo:hi], self.texts[on_caption][keep],
                                                  self.text_to_image[keep] - lo))
            result[name] = per_fold[0] if folds == 1 else {
                k: sum(m[k] for m in per_fold) / folds for k in per_fold[0]}
        return result


def evaluate(model: ContrastiveModel, corpus: Corpus, injector: ShortcutInjector | None = None,
             conditions: Sequence[str] = ("clean",), prepare: PrepareFn | None = None,
             tensor: TensorFn | None = None, batch_size: int = 256,
             num_workers: int = 0) -> dict[str, dict[str, float]]:
    """Retrieval metrics per condition over the whole split: ``{"clean": {"i2t_r1": ..., "rsum":
    ...}, ...}`` (see :func:`encode_conditions`)."""
    return encode_conditions(model, corpus, injector, conditions, prepare, tensor, batch_size,
                             num_workers).score()


def chance_level(corpus: Corpus) -> dict[str, float]:
    """Expected metrics of random scores on this split (recalls and RSUM)."""
    return chance_metrics([len(c) for c in corpus.captions])

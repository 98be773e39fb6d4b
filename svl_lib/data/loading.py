"""Torch datasets over a :class:`Corpus`, with the shortcut injected per item.

Training items are caption-level, as in the paper: item ``n`` is one ``(image, caption k)`` pair
(image-major order), so an epoch visits every image once per caption. The shortcut is drawn after
``prepare`` (geometric transforms such as resize/crop) and before ``tensor``: digit tiles are
never cropped or flipped. The training loop's batches of an epoch (:func:`epoch_batches`) come
from a seeded generator, the batches a shuffling DataLoader would draw.
"""
from __future__ import annotations

from typing import Any, Callable

import torch
from PIL import Image
from torch.utils.data import Dataset, default_collate

from ..shortcuts import ShortcutInjector
from ..corpus import Corpus
from ..transforms import PrepareFn, RandomTransform, TensorFn, decode_side, to_uint8_tensor
from .karpathy import JpegFiles

def load_image(corpus: Corpus, i: int, side: int | None) -> Image.Image:
    """Image ``i`` of ``corpus``; JPEG files read with ``draft`` are decoded at a reduced size
    (:class:`JpegFiles`) when ``side`` allows it, every other image at full size."""
    loader = corpus.load_image
    return loader.load(i, side) if isinstance(loader, JpegFiles) else loader(i)


class CaptionDataset(Dataset):
    """Items ``(image (3, H, W) float, caption str, image_index int)``; call :meth:`set_epoch`, or
    index with ``(epoch, n)`` (what the training loop's persistent DataLoader workers get: their
    copy of the dataset keeps the epoch it was made in). A :class:`RandomTransform` ``prepare`` is
    keyed by ``(seed, epoch, item)``."""

    def __init__(self, corpus: Corpus, injector: ShortcutInjector | None = None,
                 prepare: PrepareFn | None = None, tensor: TensorFn = to_uint8_tensor, seed: int = 0):
        self.corpus, self.injector, self.prepare, self.tensor = corpus, injector, prepare, tensor
        self.items = corpus.caption_index()
        self.epoch, self.seed = 0, seed
        self.side = decode_side(prepare)

    def set_epoch(self, epoch: int) -> None:
        """Unique ids rotate and bits are re-drawn per epoch; the loop calls this every epoch."""
        self.epoch = epoch

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, n: int | tuple[int, int]) -> tuple[torch.Tensor, str, int]:
        epoch, n = n if isinstance(n, tuple) else (self.epoch, n)
        i, k = self.items[n]
        image = load_image(self.corpus, i, self.side)
        if isinstance(self.prepare, RandomTransform):
            image = self.prepare(image, (self.seed, epoch, n))
        elif self.prepare is not None:
            image = self.prepare(image)
        caption = self.corpus.captions[i][k]
        if self.injector is not None:
            image, caption, _ = self.injector(image, caption, i, epoch, k)
        return self.tensor(image), caption, i


class TokenizingCollate:
    """The training loop's DataLoader ``collate_fn``: :class:`CaptionDataset` items -> ``(images
    (B, 3, H, W), captions list[str], tokenizer(captions))``, the text input made on the CPU by
    the model's tokenizer (``text_tokenizer()``), in the DataLoader workers when there are any.
    Picklable when ``tokenizer`` is. The items' image indices are left out."""

    def __init__(self, tokenizer: Callable[[list[str]], Any]):
        self.tokenizer = tokenizer

    def __call__(self, items: list[tuple[torch.Tensor, str, int]]) -> tuple[torch.Tensor, list[str], Any]:
        captions = [caption for _, caption, _ in items]
        return default_collate([image for image, _, _ in items]), captions, self.tokenizer(captions)


class EvalImages(Dataset):
    """The split's images as tensors, each with its fixed evaluation shortcut if ``injector``
    (picklable, for DataLoader workers)."""

    def __init__(self, corpus: Corpus, injector: ShortcutInjector | None,
                 prepare: PrepareFn | None = None, tensor: TensorFn = to_uint8_tensor):
        self.corpus, self.injector, self.prepare, self.tensor = corpus, injector, prepare, tensor
        self.side = decode_side(prepare)

    def __len__(self) -> int:
        return self.corpus.n_images

    def __getitem__(self, i: int) -> torch.Tensor:
        image = load_image(self.corpus, i, self.side)
        if self.prepare is not None:
            image = self.prepare(image)
        if self.injector is not None:
            image = self.injector.render_image(image, self.injector.number(i), i)
        return self.tensor(image)


def eval_images(corpus: Corpus, injector: ShortcutInjector | None, prepare: PrepareFn | None = None,
                tensor: TensorFn = to_uint8_tensor) -> EvalImages:
    """Image ``i`` of the split (``eval_images(...)[i]``) as a tensor, with its fixed evaluation
    shortcut if ``injector``."""
    return EvalImages(corpus, injector, prepare, tensor)


def eval_captions(corpus: Corpus, injector: ShortcutInjector | None) -> tuple[list[str], list[int]]:
    """All captions (image-major) with the image's evaluation number appended if ``injector``,
    and the image index of each caption."""
    texts, owners = [], []
    for i, caps in enumerate(corpus.captions):
        for c in caps:
            texts.append(c if injector is None else injector.render_caption(c, injector.number(i)))
            owners.append(i)
    return texts, owners


def epoch_batches(n_items: int, batch_size: int, generator: torch.Generator) -> list[list[int]]:
    """One epoch's batches of item indices: a permutation drawn from ``generator``, cut into
    ``n_items // batch_size`` full batches. The generator advances exactly as under
    ``DataLoader(shuffle=True, drop_last=True, generator=generator)`` (a base seed for workers, the
    permutation, and the empty tail permutation its sampler draws), so runs keep the batches they
    had with that loader."""
    torch.empty((), dtype=torch.int64).random_(generator=generator)
    order = torch.randperm(n_items, generator=generator)
    torch.randperm(n_items, generator=generator)
    n_batches = n_items // batch_size
    return order[: n_batches * batch_size].view(n_batches, batch_size).tolist()


class EpochBatches:
    """The DataLoader batch sampler of the loop: the batches set for the current epoch, each item
    as ``(epoch, n)``, so that persistent workers (whose copy of the dataset keeps the epoch it
    was made in) load each epoch's items."""

    def __init__(self) -> None:
        self.batches: list[list[tuple[int, int]]] = []

    def set(self, epoch: int, batches: list[list[int]]) -> None:
        self.batches = [[(epoch, n) for n in batch] for batch in batches]

    def __iter__(self):
        return iter(self.batches)

    def __len__(self) -> int:
        return len(self.batches)

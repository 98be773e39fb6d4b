"""Toy training throughput: steps/s at batch 256 (CNN + GRU, 32 px), with and without the
unique shortcut (the injection runs in the data loader).

    python benchmarks/bench_training.py [--batch 256] [--n-train 2000]

Prints figures only. Run it on an otherwise idle machine: two concurrent trainings on 2 cores
slow each other down several-fold.
"""
from __future__ import annotations

import argparse
import time

import torch

from svl_lib.data.loading import CaptionDataset
from svl_lib.data.toy import ToyWorld
from svl_lib.digits import load_glyph_bank
from svl_lib.models import ToyDualEncoder, Vocabulary
from svl_lib.shortcuts import ShortcutInjector, ShortcutSpec
from svl_lib.train.loop import TrainSettings, train


def steps_per_second(dataset: CaptionDataset, vocab: Vocabulary, batch: int) -> float:
    """One epoch of training; steps per second of wall time (data loading included)."""
    torch.manual_seed(0)
    model = ToyDualEncoder(vocab)
    settings = TrainSettings(epochs=1, batch_size=batch, lr=1e-3)
    started = time.perf_counter()
    history = train(model, dataset, settings, progress=False)
    return len(history) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=256)
    parser.add_argument("--n-train", type=int, default=2000)
    args = parser.parse_args()
    split = ToyWorld(n_train=args.n_train, n_val=1, n_test=1).split("train")
    vocab = Vocabulary.build(c for caps in split.captions for c in caps)
    injector = ShortcutInjector(ShortcutSpec("unique", n_digits=4, tile_fraction=0.25),
                                split.n_images, load_glyph_bank("auto"), seed=0)
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, "
          f"{len(split.captions) * 5:,} items per epoch")
    for name, dataset in [("no shortcut", CaptionDataset(split)),
                          ("unique shortcut", CaptionDataset(split, injector))]:
        rate = steps_per_second(dataset, vocab, args.batch)
        print(f"{name:16s} {rate:5.2f} steps/s  ({rate * args.batch:,.0f} items/s)")


if __name__ == "__main__":
    main()

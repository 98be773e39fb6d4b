"""Images per second of the real-data training pipeline at 224 px, with 0, 1 and 2 DataLoader
workers: JPEG decode (reduced in the decoder when the transform starts with a resize, as the
Karpathy reader does with ``jpeg_draft=True``; ``--full-decode``: at full size, the reader's
default) + the model's geometric transform (CLIP: resize + centre crop; VSE++: random
resized crop + flip) + the 6-digit shortcut + to a uint8 tensor, batched by a DataLoader (the model
normalises on its device).

The data is the toy world rendered at 640x480 and written as JPEG files in COCO's layout (photo-like
sizes, so decoding and resizing cost what they cost on COCO). Prints images/s per worker count and
the GPU step rate those images can feed at batch 256.

Then the real loop's rate (``--loop-workers``): :func:`svl_lib.train.loop.train` over the same JPEG
files, every caption of every image (one epoch), through its DataLoader, with the model's
tokenization, the objective, the optimiser and the loop's records (made every step on a CPU, every
50 steps on a GPU), timed from the end of the first step to the end of the last. On a GPU the loop
runs as training does, in bf16 autocast with channels-last; the fp32 baseline with TF32 disabled,
and the synthetic upper bound, are in ``benchmarks/gpu_acceptance.py``. Figures only, no asserts.

    python benchmarks/bench_data_pipeline.py [--images 512] [--model clip|vse] [--workers 0 1 2]
        [--loop-workers 2] [--arch tiny] [--device cpu] [--full-decode]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import torch
from PIL import Image
from torch.utils.data import DataLoader

from svl_lib.config import ExperimentConfig
from svl_lib.corpus import Corpus, ImageFiles
from svl_lib.data.karpathy import JpegFiles
from svl_lib.data.loading import CaptionDataset
from svl_lib.data.toy import ToyWorld
from svl_lib.digits import load_glyph_bank
from svl_lib.models import build_model
from svl_lib.train.objectives import Objective
from svl_lib.experiments.registries import resolve
from svl_lib.shortcuts import ShortcutInjector
from svl_lib.train.loop import TrainSettings, train


def write_photos(root: Path, n: int, full_decode: bool = False) -> Corpus:
    """``n`` 640x480 JPEGs (toy scenes scaled up, quality 90) and a corpus over them, read as the
    Karpathy reader reads them with ``jpeg_draft=True`` (``full_decode``: at full size, its default)."""
    world = ToyWorld(n, 1, 1, image_size=160, seed=0).split("train")
    names = []
    for i in range(n):
        name = f"{i:06d}.jpg"
        world.load_image(i).resize((640, 480), Image.Resampling.BILINEAR).save(root / name, quality=90)
        names.append(name)
    files = ImageFiles(root, names) if full_decode else JpegFiles(root, names, draft=True)
    return Corpus("photos", "train", world.captions, files)


def loop_rate(model, dataset: CaptionDataset, batch: int, workers: int) -> tuple[float, int]:
    """(images/s, steps) of one epoch of the real training loop, timed at each step's end."""
    times: list[float] = []
    objective = Objective()
    objective.after_step = lambda: times.append(time.perf_counter())
    settings = TrainSettings(epochs=1, batch_size=batch, lr=1e-4, num_workers=workers)
    train(model, dataset, settings, objective=objective, progress=False)
    if model.device.type == "cuda":
        torch.cuda.synchronize()
        times[-1] = time.perf_counter()
    return batch * (len(times) - 1) / (times[-1] - times[0]), len(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--model", choices=("clip", "vse"), default="clip")
    parser.add_argument("--workers", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=64)
    parser.add_argument("--loop-workers", type=int, nargs="*", default=[2])
    parser.add_argument("--arch", default="tiny", help="e.g. RN50 (clip) or resnet152 (vse) on a GPU")
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--full-decode", action="store_true", help="no reduced JPEG decoding")
    args = parser.parse_args()
    config = resolve(ExperimentConfig(dataset="coco", model=args.model, arch=args.arch, shortcut_mode="unique"))
    model = build_model(config, ToyWorld(20, 1, 1).split("train")).to(args.device)
    prepare, tensor = model.image_transform(train=True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = write_photos(Path(tmp), args.images, args.full_decode)
        injector = ShortcutInjector(config.train_spec(), corpus.n_images, load_glyph_bank("auto"), 0)
        dataset = CaptionDataset(corpus, injector, prepare, tensor)
        indices = list(range(0, len(dataset), 5))[: args.images]  # one caption per image
        decode = "full-size" if args.full_decode else "reduced"
        print(f"{len(indices)} images, 640x480 JPEG ({decode} decode) -> {args.model} transform -> "
              f"224 px + shortcut, batch {args.batch}, torch threads {torch.get_num_threads()}")
        for workers in args.workers:
            batches = [indices[s:s + args.batch] for s in range(0, len(indices), args.batch)]
            loader = DataLoader(dataset, batch_sampler=batches, num_workers=workers)
            started = time.perf_counter()
            n = sum(images.shape[0] for images, _, _ in loader)
            rate = n / (time.perf_counter() - started)
            print(f"  workers={workers}: {rate:7.1f} images/s -> feeds {rate / 256:5.2f} steps/s "
                  f"at batch 256 (with worker start-up)")
        print(f"real loop, {args.model} {args.arch} on {args.device}, batch {args.batch}, every caption "
              f"({len(dataset)} items), tokenization and records included:")
        for workers in args.loop_workers:
            rate, steps = loop_rate(model, dataset, args.batch, workers)
            print(f"  workers={workers}: {rate:7.1f} images/s over {steps} steps")


if __name__ == "__main__":
    main()

"""Images per second of the real-data training pipeline at 224 px, with 0, 1 and 2 DataLoader
workers: JPEG decode + the model's geometric transform (CLIP: resize + centre crop; VSE++: random
resized crop + flip) + the 6-digit shortcut + to tensor and normalise, batched by a DataLoader.

The data is the toy world rendered at 640x480 and written as JPEG files in COCO's layout (photo-like
sizes, so decoding and resizing cost what they cost on COCO). Prints images/s per worker count and
the GPU step rate those images can feed at batch 256. Figures only, no asserts.

    python benchmarks/bench_data_pipeline.py [--images 512] [--model clip|vse] [--workers 0 1 2]
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
from svl_lib.data.corpus import Corpus, ImageFiles
from svl_lib.data.loading import CaptionDataset
from svl_lib.data.toy import ToyWorld
from svl_lib.digits import load_glyph_bank
from svl_lib.models import build_model
from svl_lib.shortcuts import ShortcutInjector


def write_photos(root: Path, n: int) -> Corpus:
    """``n`` 640x480 JPEGs (toy scenes scaled up, quality 90) and a corpus over them."""
    world = ToyWorld(n, 1, 1, image_size=160, seed=0).split("train")
    names = []
    for i in range(n):
        name = f"{i:06d}.jpg"
        world.load_image(i).resize((640, 480), Image.Resampling.BILINEAR).save(root / name, quality=90)
        names.append(name)
    return Corpus("photos", "train", world.captions, ImageFiles(root, names))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=512)
    parser.add_argument("--model", choices=("clip", "vse"), default="clip")
    parser.add_argument("--workers", type=int, nargs="*", default=[0, 1, 2])
    parser.add_argument("--batch", type=int, default=64)
    args = parser.parse_args()
    config = ExperimentConfig(dataset="coco", model=args.model, arch="tiny", shortcut_mode="unique")
    model = build_model(config, ToyWorld(20, 1, 1).split("train"))
    prepare, tensor = model.image_transform(train=True)
    with tempfile.TemporaryDirectory() as tmp:
        corpus = write_photos(Path(tmp), args.images)
        injector = ShortcutInjector(config.train_spec(), corpus.n_images, load_glyph_bank("auto"), 0)
        dataset = CaptionDataset(corpus, injector, prepare, tensor)
        indices = list(range(0, len(dataset), 5))[: args.images]  # one caption per image
        print(f"{len(indices)} images, 640x480 JPEG -> {args.model} transform -> 224 px + shortcut, "
              f"batch {args.batch}, torch threads {torch.get_num_threads()}")
        for workers in args.workers:
            batches = [indices[s:s + args.batch] for s in range(0, len(indices), args.batch)]
            loader = DataLoader(dataset, batch_sampler=batches, num_workers=workers)
            started = time.perf_counter()
            n = sum(images.shape[0] for images, _, _ in loader)
            rate = n / (time.perf_counter() - started)
            print(f"  workers={workers}: {rate:7.1f} images/s -> feeds {rate / 256:5.2f} steps/s "
                  f"at batch 256 (with worker start-up)")


if __name__ == "__main__":
    main()

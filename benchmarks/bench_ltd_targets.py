"""Time the LTD target encoding: 25,000 caption strings encoded once by the sentence encoder.

The strings are those an LTD run with targets "as fed" meets in one epoch of a 5,000-image toy
training split with the unique shortcut (5 captions per image, each with its 4 shortcut digits,
so all distinct). They go through :class:`svl_lib.ltd.TargetCache` exactly as in training (batches
of 256, progress bar). Prints the load time of the encoder, the encoding time, captions per second
and the torch thread count. Figures only, no asserts. Offline: the default encoder is the packaged
all-MiniLM-L6-v2.

    OMP_NUM_THREADS=1 python benchmarks/bench_ltd_targets.py [--n 25000] [--encoder NAME]
"""
from __future__ import annotations

import argparse
import time

import torch

from svl_lib.data.toy import ToyWorld
from svl_lib.digits import load_glyph_bank
from svl_lib.ltd import DEFAULT_ENCODER, TargetCache, load_sentence_encoder, training_captions
from svl_lib.shortcuts import ShortcutInjector, ShortcutSpec


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=25_000, help="caption strings to encode")
    parser.add_argument("--encoder", default=DEFAULT_ENCODER)
    parser.add_argument("--device", default="cpu")
    args = parser.parse_args()
    n_images = -(-args.n // 5)
    corpus = ToyWorld(n_train=n_images, n_val=1, n_test=1).split("train")
    injector = ShortcutInjector(ShortcutSpec(mode="unique", n_digits=4), n_images,
                                load_glyph_bank("sklearn"), seed=0)
    texts = training_captions(corpus, injector, epochs=1)[:args.n]
    started = time.perf_counter()
    encode = load_sentence_encoder(args.encoder, device=args.device)
    loaded = time.perf_counter() - started
    cache = TargetCache(args.encoder, encode)
    started = time.perf_counter()
    cache.ensure(texts, progress=True)
    seconds = time.perf_counter() - started
    print(f"encoder {args.encoder!r} on {args.device}, torch threads {torch.get_num_threads()}")
    print(f"loaded in {loaded:.1f} s; {len(texts):,} distinct captions encoded in {seconds:.1f} s "
          f"({len(texts) / seconds:.0f} captions/s, {cache.encoder_calls} encoder calls), "
          f"target dim {cache.dim}")


if __name__ == "__main__":
    main()

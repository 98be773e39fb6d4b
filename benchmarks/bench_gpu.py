"""GPU figures of the real models on synthetic 224-px data (no dataset or download needed beyond
the architectures): training steps of CLIP (default RN50) at batch 256 in fp32 and in bf16
autocast + channels-last, VSE++ (ResNet-152 + GRU) steps at batch 128, and encoding 5,000 images
+ 25,000 captions for evaluation. Prints images/s, steps/s and peak GPU memory per setting, and the
bf16 / fp32 speed-up (goal: at least 2x; the fp32 baseline runs with TF32 off). Figures only,
no asserts.

    python benchmarks/bench_gpu.py [--clip-arch RN50] [--steps 20]
    python benchmarks/bench_gpu.py --device cpu --clip-arch tiny --vse-arch tiny --steps 2 --eval-images 64  # smoke run
"""
from __future__ import annotations

import argparse
import contextlib
import time

import torch

from svl_lib.config import ExperimentConfig
from svl_lib.data.toy import ToyWorld
from svl_lib.losses import info_nce
from svl_lib.models import build_model

CAPTION = "a man riding a wave on top of a surfboard 0 1 2 3 4 5"


def sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize()


def precision(device: torch.device, bf16: bool) -> contextlib.AbstractContextManager:
    return torch.autocast(device.type, dtype=torch.bfloat16) if bf16 else contextlib.nullcontext()


@contextlib.contextmanager
def no_tf32():
    """True fp32 for the baseline: TF32 off for matmuls and cuDNN convolutions (PyTorch lets cuDNN
    convolutions use TF32 by default, which would flatter the fp32 baseline)."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def train_steps(model, device, batch: int, steps: int, bf16: bool, lr: float) -> tuple[float, float]:
    """(images/s, peak GiB) of ``steps`` optimiser steps after 3 warm-up steps."""
    if bf16:
        model = model.to(memory_format=torch.channels_last)
    optimizer = torch.optim.AdamW([p for p in model.parameters() if p.requires_grad], lr=lr)
    images = torch.randn(batch, 3, 224, 224, device=device)
    if bf16:
        images = images.contiguous(memory_format=torch.channels_last)
    tokens = model.tokenize([CAPTION] * batch)
    if device.type == "cuda":
        torch.cuda.reset_peak_memory_stats()
    for step in range(steps + 3):
        if step == 3:
            sync(device)
            started = time.perf_counter()
        with precision(device, bf16):
            out = model(images, tokens)
            image_f, text_f, scale = out.image_features, out.text_features, out.logit_scale
        loss = info_nce(image_f.float(), text_f.float(), scale.float())
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 2.0)
        optimizer.step()
    sync(device)
    rate = steps * batch / (time.perf_counter() - started)
    peak = torch.cuda.max_memory_allocated() / 2**30 if device.type == "cuda" else float("nan")
    return rate, peak


@torch.no_grad()
def encode(model, device, n_images: int, bf16: bool) -> float:
    """Seconds to encode ``n_images`` images (batches of 256) and 5x as many captions."""
    model.eval()
    sync(device)
    started = time.perf_counter()
    for start in range(0, n_images, 256):
        size = min(256, n_images - start)
        with precision(device, bf16):
            model.encode_image(torch.randn(size, 3, 224, 224, device=device))
            model.encode_text(model.tokenize([CAPTION] * size * 5))
    sync(device)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda")
    parser.add_argument("--clip-arch", default="RN50")
    parser.add_argument("--vse-arch", default="resnet152")
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--eval-images", type=int, default=5000)
    args = parser.parse_args()
    device = torch.device(args.device)
    name = torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU"
    print(f"device: {name}; torch {torch.__version__}")
    vocab_corpus = ToyWorld(20, 1, 1).split("train")
    rates = {}
    for bf16 in (False, True):
        clip = build_model(ExperimentConfig(dataset="coco", model="clip", arch=args.clip_arch)).to(device)
        with contextlib.nullcontext() if bf16 else no_tf32():
            rate, peak = train_steps(clip, device, 256, args.steps, bf16, 2e-5)
        rates[bf16] = rate
        print(f"CLIP {args.clip_arch} train, batch 256, {'bf16 + channels-last' if bf16 else 'fp32'}: "
              f"{rate:8.1f} images/s, {rate / 256:5.2f} steps/s, peak {peak:5.1f} GiB")
        del clip
    print(f"bf16 / fp32 speed-up: {rates[True] / rates[False]:.2f}x (goal >= 2x)")
    vse = build_model(ExperimentConfig(dataset="coco", model="vse", arch=args.vse_arch, embed_dim=1024),
                      vocab_corpus).to(device)
    rate, peak = train_steps(vse, device, 128, args.steps, True, 2e-4)
    print(f"VSE++ {args.vse_arch} train, batch 128, bf16: {rate:8.1f} images/s, peak {peak:5.1f} GiB")
    clip = build_model(ExperimentConfig(dataset="coco", model="clip", arch=args.clip_arch)).to(device)
    seconds = encode(clip, device, args.eval_images, True)
    print(f"CLIP encode {args.eval_images} images + {5 * args.eval_images} captions, bf16: {seconds:.1f} s")


if __name__ == "__main__":
    main()

"""GPU acceptance run of the real-data path: no download, about 5 minutes on one H200-class GPU.

It writes a few thousand 640x480 JPEGs with captions in the Karpathy format (toy scenes scaled up,
with pixel noise so that they decode like photos), then, through the real training loop
(:func:`svl_lib.experiments.experiment.run_experiment`, DataLoader workers, unique shortcuts):

* trains CLIP RN50 (open_clip, random init) in bf16 autocast + channels-last and in fp32
  (``precision="fp32"``: torch's default memory layout) with TF32 off, and VSE++ (ResNet-152 +
  GRU, random init) in bf16;
* measures the synthetic upper bound of CLIP RN50 (random tensors on the GPU, no data loading;
  ``benchmarks/bench_gpu.py``) in fp32 (TF32 off) and in bf16 + channels-last;
* SIGKILLs a training subprocess (checkpoint every 3 steps) in the middle of an epoch, resumes it
  and compares its per-step losses with an uninterrupted run's (deterministic algorithms where
  torch has them, no cuDNN autotuning): equal, or where some CUDA kernels stay non-deterministic
  within twice the difference between two uninterrupted runs;
* checks that the VSE++ GRU returns float32 under bf16 autocast;
* encodes 5,000 images + 25,000 captions with :mod:`svl_lib.evaluate.conditions`;
* reloads a locally saved open_clip RN50 checkpoint (QuickGELU kept), trains constrained LTD on the
  device on a COCO-layout folder with odd JPEGs and captions over 77 tokens and evaluates the four
  shortcut conditions, and trains two processes on two GPUs (skipped, with the reason, on one)
  (``benchmarks/acceptance_checks.py``);

and prints one table and the goals with PASS/FAIL: bf16 + channels-last at least 2x the fp32
images/s of CLIP RN50 at batch 256 (synthetic); images/s of the real loop (bf16; steps within an
epoch, so no epoch-end save counts) within 10% of the synthetic bf16 rate. Exit status 1 when a goal fails.

How to run it on a GPU machine without network (Python 3.12 with torch, torchvision, timm,
scikit-learn, pandas, matplotlib, seaborn; open_clip, ftfy, wcwidth and mlxtend travel as wheels).
Once, on a machine with network, in the repository root (:mod:`svl_lib.course.gpu_wheels` gathers exactly
those wheels, at constraints.txt's versions, for the GPU machine's Python into the git-ignored
``.wheels/``; ``GPU_PYTHON=3.11`` for another Python)::

    make gpu-wheels        # without make: python -m svl_lib.course.gpu_wheels --python-version 3.12

then, on the GPU machine, in the repository root with ``.wheels/`` copied into it::

    python3 -m pip install -q --no-index --no-deps --target /tmp/site .wheels/*.whl && \\
    PYTHONPATH=/tmp/site:. HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 python3 benchmarks/gpu_acceptance.py

Its first step imports every module it needs and checks for a CUDA GPU (not with ``--smoke``):
anything missing ends it within seconds, before it writes anything, with exit status 2 and one
message naming what is missing and the commands above that fix it.

Smoke run on a CPU (tiny models, a few dozen small images, a few steps; goals not judged)::

    python benchmarks/gpu_acceptance.py --smoke
"""
from __future__ import annotations

import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[1]))  # svl_lib of this checkout, if none is found before
from svl_lib.course.gpu_wheels import require_stack

if __name__ == "__main__" and not {"-h", "--help"} & set(sys.argv[1:]):
    require_stack(cuda="--smoke" not in sys.argv[1:])  # first: before any other import or file

import argparse  # noqa: E402
import contextlib  # noqa: E402
import json  # noqa: E402
import os  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
import zlib  # noqa: E402
from multiprocessing import Pool  # noqa: E402
from unittest import mock  # noqa: E402

import numpy as np  # noqa: E402
import torch  # noqa: E402
from PIL import Image  # noqa: E402

from acceptance_checks import checkpoint_reload, ltd_run, odd_coco_folder, two_processes  # noqa: E402
from bench_gpu import train_steps  # noqa: E402  (the synthetic upper bound)

from svl_lib.config import ExperimentConfig
from svl_lib.data.karpathy import read_karpathy
from svl_lib.data.toy import ToyWorld, export_karpathy
from svl_lib.evaluate.conditions import encode_conditions
from svl_lib.experiments.checkpoints import load_model
from svl_lib.experiments.experiment import run_experiment
from svl_lib.models import build_model
from svl_lib.train.objectives import Objective
from svl_lib.train.devices import tune_cudnn

ROWS = ("data", "synthetic fp32", "synthetic bf16", "bf16/fp32 synthetic", "loop CLIP bf16",
        "loop CLIP fp32", "bf16/fp32 loop", "loop/synthetic bf16", "loop VSE++ bf16",
        "resume after kill", "GRU dtype", "encode", "checkpoint reload", "odd data", "LTD + conditions",
        "2 processes")

CHILD = """
import json, os, signal, sys, torch
from svl_lib.config import ExperimentConfig
from svl_lib.experiments.experiment import run_experiment
from svl_lib.train.objectives import Objective
torch.use_deterministic_algorithms(True, warn_only=True)
kill_at, calls, original = int(sys.argv[3]), [0], Objective.after_step
def after_step(self):  # SIGKILL inside step kill_at (1-based), before its record is written
    calls[0] += 1
    if calls[0] == kill_at:
        os.kill(os.getpid(), signal.SIGKILL)
    original(self)
Objective.after_step = after_step
run_experiment(ExperimentConfig.from_dict(json.loads(sys.argv[1])), sys.argv[2], resume=True,
               progress=False)
"""


def _photo(path: str) -> None:
    """Rewrite one JPEG as a 640x480 photo-like JPEG (upscaled, with pixel noise, quality 90)."""
    image = Image.open(path).convert("RGB").resize((640, 480), Image.Resampling.BILINEAR)
    rng = np.random.default_rng(zlib.crc32(path.encode()))
    pixels = np.asarray(image, dtype=np.int16) + rng.integers(-12, 13, (480, 640, 3), dtype=np.int16)
    Image.fromarray(np.clip(pixels, 0, 255).astype(np.uint8)).save(path, quality=90)


def gib(value: float) -> str:
    """Peak GPU memory for the table (``-`` on a CPU)."""
    return "-" if value != value else f"{value:.1f} GiB"


def write_dataset(root: Path, n_train: int, n_val: int, n_test: int, workers: int) -> Path:
    """A COCO-layout Karpathy dataset of 640x480 JPEGs under ``root``; returns ``root``."""
    export_karpathy(ToyWorld(n_train, n_val, n_test, image_size=64, seed=0), root, dataset="coco")
    with Pool(max(1, workers)) as pool:
        pool.map(_photo, [str(p) for p in sorted((root / "images").rglob("*.jpg"))], chunksize=32)
    return root


@contextlib.contextmanager
def strict_fp32():
    """fp32 as a baseline: TF32 off for matrix products and cuDNN convolutions."""
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = False
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def steps_per_epoch(n_images: int, batch_size: int) -> int:
    """Training steps per epoch of ``n_images`` with 5 captions each (one item per caption)."""
    return 5 * n_images // batch_size


def loop_config(config: ExperimentConfig, bf16: bool) -> ExperimentConfig:
    """The config of a loop row: ``config`` (bf16 autocast + channels-last), or for the fp32 row
    one epoch with ``precision="fp32"``: no autocast and torch's default memory layout, as the
    synthetic fp32 row."""
    return config if bf16 else config.replace(epochs=1, precision="fp32")


def step_seconds(times: list[float], steps_per_epoch: int, warmup: int) -> float:
    """The mean time of a training step from the step-end times ``times``: the intervals between
    consecutive steps of one epoch, after the first ``warmup`` steps. The gap from an epoch's last
    step to the next epoch's first (the epoch-end training-state save) is no step's time."""
    intervals = [b - a for n, (a, b) in enumerate(zip(times, times[1:]), start=1)
                 if n >= warmup and n % steps_per_epoch != 0]
    if not intervals:
        raise ValueError(f"{len(times)} steps leave no step to time after {warmup} warm-up steps")
    return sum(intervals) / len(intervals)


def loop_run(config: ExperimentConfig, out: Path, warmup: int, steps_per_epoch: int) -> dict:
    """Train ``config`` through :func:`run_experiment`; images/s and mean step time after
    ``warmup`` steps, from within-epoch steps only (:func:`step_seconds`; timed at each step's
    end), peak GPU memory. ``precision="fp32"`` runs with TF32 off."""
    times: list[float] = []
    original = Objective.after_step

    def timed(self):
        original(self)
        times.append(time.perf_counter())
    cuda = torch.cuda.is_available() and config.device != "cpu"
    if cuda:
        torch.cuda.reset_peak_memory_stats()
    with mock.patch.object(Objective, "after_step", timed), \
            (strict_fp32() if config.precision == "fp32" else contextlib.nullcontext()):
        metrics = run_experiment(config, out, progress=False)
    if cuda:
        torch.cuda.synchronize()
    seconds = step_seconds(times, steps_per_epoch, min(warmup, len(times) - 2))
    return {"rate": config.batch_size / seconds, "step_ms": 1000 * seconds, "steps": len(times),
            "peak": torch.cuda.max_memory_allocated() / 2**30 if cuda else float("nan"),
            "rsum": metrics["eval"]["clean"]["rsum"]}


def resume_verdict(straight: list[float], again: list[float], resumed: list[float]) -> tuple[bool, str]:
    """Whether a resumed run's per-step losses match an uninterrupted run's: as many steps, and
    every loss within the tolerance the hardware allows, twice the largest difference between two
    uninterrupted runs (``again``; 0 where the kernels are deterministic, so then exactly)."""
    if not len(straight) == len(again) == len(resumed):
        return False, f"{len(resumed)} steps resumed, {len(straight)} and {len(again)} uninterrupted"
    noise = max((abs(a - b) for a, b in zip(straight, again)), default=0.0)
    delta = max((abs(a - b) for a, b in zip(straight, resumed)), default=0.0)
    if delta == noise == 0:
        return True, "losses identical"
    ok = delta <= 2 * noise
    return ok, (f"max |d loss| {delta:.2e} {'within' if ok else 'beyond'} the tolerance {2 * noise:.2e} "
                f"(twice two uninterrupted runs' {noise:.2e})")


def resume_check(config: ExperimentConfig, tmp: Path, kill_at: int) -> tuple[bool, str]:
    """Two uninterrupted runs and a run SIGKILLed in step ``kill_at`` and resumed, each in a
    subprocess; the losses compared by :func:`resume_verdict`, the step it resumed from reported."""
    env = {**os.environ, "CUBLAS_WORKSPACE_CONFIG": ":4096:8"}

    def child(out: Path, kill: int) -> int:
        args = [sys.executable, "-c", CHILD, json.dumps(config.to_dict()), str(out), str(kill)]
        return subprocess.run(args, env=env).returncode
    if child(tmp / "straight", 0) != 0 or child(tmp / "again", 0) != 0:
        return False, "an uninterrupted run failed"
    if child(tmp / "killed", kill_at) != -signal.SIGKILL:
        return False, "the run to kill was not killed"
    if child(tmp / "killed", 0) != 0:
        return False, "the resumed run failed"
    losses = [[json.loads(line)["loss"] for line in (tmp / run / "history.jsonl").read_text().splitlines()]
              for run in ("straight", "again", "killed")]
    ok, text = resume_verdict(*losses)
    resumed_from = json.loads((tmp / "killed" / "metrics.json").read_text())["resumed_from_step"]
    return ok, f"resumed from step {resumed_from}: {text}"


def gru_dtype(config: ExperimentConfig, device: torch.device) -> str:
    """The dtype of the VSE++ GRU's hidden state when the model runs under bf16 autocast."""
    model = build_model(config, ToyWorld(20, 1, 1).split("train")).to(device)
    seen: list[torch.dtype] = []
    model.text_encoder.gru.register_forward_hook(lambda m, i, out: seen.append(out[1].dtype))
    with torch.no_grad(), torch.autocast(device.type, dtype=torch.bfloat16):
        model.encode_text(model.tokenize(["a red circle on a blue background 1 2 3"] * 4))
    return str(seen[0]).removeprefix("torch.")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--smoke", action="store_true", help="tiny models, few small images, CPU")
    parser.add_argument("--train-images", type=int, default=4096)
    parser.add_argument("--eval-images", type=int, default=5000, help="encoded: x5 captions")
    parser.add_argument("--clip-epochs", type=int, default=3, help="bf16 (fp32: one epoch)")
    parser.add_argument("--clip-batch", type=int, default=256)
    parser.add_argument("--vse-batch", type=int, default=128)
    parser.add_argument("--synthetic-steps", type=int, default=20)
    parser.add_argument("--workers", type=int, default=16)
    parser.add_argument("--warmup", type=int, default=10, help="loop steps left out of the rates")
    args = parser.parse_args()
    if args.smoke:
        args.train_images, args.eval_images, args.clip_epochs = 16, 20, 1
        args.clip_batch = args.vse_batch = 8
        args.synthetic_steps, args.workers, args.warmup = 2, 2, 1
    device = torch.device("cpu" if args.smoke else "cuda")
    tune_cudnn(device)  # cuDNN autotuning for the synthetic runs too, as the loop has it
    clip_arch, vse_arch = ("tiny", "tiny") if args.smoke else ("RN50", "resnet152")
    name = "CPU (smoke)" if args.smoke else torch.cuda.get_device_name(device)
    print(f"device: {name}; torch {torch.__version__}; {args.workers} DataLoader workers")
    table: dict[str, str] = {}
    goals: list[tuple[str, bool]] = []
    with tempfile.TemporaryDirectory() as tmp_name:
        tmp = Path(tmp_name)
        started = time.perf_counter()
        root = write_dataset(tmp / "coco", args.train_images, 20, args.eval_images, args.workers)
        table["data"] = (f"{args.train_images + 20 + args.eval_images} 640x480 JPEGs in "
                         f"{time.perf_counter() - started:.0f} s")

        synthetic = {}
        for bf16 in (False, True):
            clip = build_model(ExperimentConfig(dataset="coco", model="clip", arch=clip_arch)).to(device)
            with contextlib.nullcontext() if bf16 else strict_fp32():
                rate, peak = train_steps(clip, device, args.clip_batch, args.synthetic_steps, bf16, 2e-5)
            synthetic[bf16] = rate
            table[f"synthetic {'bf16' if bf16 else 'fp32'}"] = (
                f"CLIP {clip_arch} batch {args.clip_batch}: {rate:.0f} images/s, "
                f"{1000 * args.clip_batch / rate:.0f} ms/step, peak {gib(peak)}")
            del clip
        ratio = synthetic[True] / synthetic[False]
        table["bf16/fp32 synthetic"] = f"{ratio:.2f}x"
        goals.append((f"bf16 + channels-last >= 2x fp32 images/s, CLIP {clip_arch} batch "
                      f"{args.clip_batch} (synthetic): {ratio:.2f}x", ratio >= 2))

        common = dict(dataset="coco", data_root=str(root), pretrained="", shortcut_mode="unique",
                      probes=False, eval_split="val", eval_conditions=("clean",),
                      num_workers=args.workers, device=str(device))
        clip_config = ExperimentConfig(**common, model="clip", arch=clip_arch, lr=1e-4,
                                       batch_size=args.clip_batch, epochs=args.clip_epochs)
        loop = {}
        for bf16 in (True, False):
            loop[bf16] = r = loop_run(loop_config(clip_config, bf16), tmp / f"clip_{bf16}", args.warmup,
                                      steps_per_epoch(args.train_images, args.clip_batch))
            table[f"loop CLIP {'bf16' if bf16 else 'fp32'}"] = (
                f"{r['steps']} steps: {r['rate']:.0f} images/s, {r['step_ms']:.0f} ms/step, "
                f"peak {gib(r['peak'])}")
        table["bf16/fp32 loop"] = f"{loop[True]['rate'] / loop[False]['rate']:.2f}x"
        fed = loop[True]["rate"] / synthetic[True]
        table["loop/synthetic bf16"] = f"{fed:.2f}"
        goals.append((f"real loop (JPEG files, {args.workers} workers, bf16) within 10% of the "
                      f"synthetic bf16 images/s: {fed:.2f}", fed >= 0.9))

        vse_config = ExperimentConfig(**common, model="vse", arch=vse_arch, embed_dim=1024, lr=2e-4,
                                      batch_size=args.vse_batch, epochs=1)
        r = loop_run(vse_config, tmp / "vse", args.warmup, steps_per_epoch(args.train_images, args.vse_batch))
        table["loop VSE++ bf16"] = (f"{vse_arch}, batch {args.vse_batch}, {r['steps']} steps: "
                                    f"{r['rate']:.0f} images/s, {r['step_ms']:.0f} ms/step, "
                                    f"peak {gib(r['peak'])}")

        n_small = 16 if args.smoke else 128  # x5 captions / 10 steps per epoch = the batch
        small = write_dataset(tmp / "small", n_small, 20, 20, args.workers)
        resume_config = clip_config.replace(data_root=str(small), epochs=2, checkpoint_every=3,
                                            batch_size=n_small // 2, num_workers=min(args.workers, 4))
        same, text = resume_check(resume_config, tmp / "resume", kill_at=14)
        table["resume after kill"] = f"CLIP {clip_arch}, 10 steps/epoch, kill in step 14: {text}"
        goals.append(("resume after SIGKILL matches the uninterrupted run (exactly, or within two "
                      "uninterrupted runs' difference)", same))

        dtype = gru_dtype(vse_config, device)
        table["GRU dtype"] = f"VSE++ GRU hidden state under bf16 autocast: {dtype}"
        goals.append((f"VSE++ GRU runs in float32 under autocast: {dtype}", dtype == "float32"))

        model = load_model(tmp / "clip_True", device)
        corpus = read_karpathy(root / "dataset_coco.json", root / "images", "test")
        if device.type == "cuda":
            torch.cuda.synchronize()
        started = time.perf_counter()
        encode_conditions(model, corpus, None, ("clean",), *model.image_transform(),
                          num_workers=args.workers)
        seconds = time.perf_counter() - started
        table["encode"] = (f"{corpus.n_images} images + {sum(map(len, corpus.captions))} captions: "
                           f"{seconds:.1f} s ({corpus.n_images / seconds:.0f} images/s)")

        ok, table["checkpoint reload"] = checkpoint_reload(tmp, device)
        goals.append(("a local open_clip checkpoint keeps QuickGELU and its weights", ok))
        odd = write_dataset(tmp / "odd", n_small, 20, 20, args.workers)
        table["odd data"] = odd_coco_folder(odd)
        ok, table["LTD + conditions"] = ltd_run(odd, tmp / "ltd", clip_arch, device, n_small // 2,
                                                min(args.workers, 4))
        goals.append(("constrained LTD trains on the device on odd files and long captions, every "
                      "condition evaluated", ok))
        ok, table["2 processes"] = two_processes(small, tmp / "two", clip_arch, n_small // 2)
        if ok is not None:
            goals.append(("two processes, one per GPU, train and evaluate", ok))

    width = max(map(len, ROWS))
    print("\n".join(f"{row:<{width}}  {table[row]}" for row in ROWS))
    print("goals" + (" (not judged in a smoke run)" if args.smoke else ""))
    for text, ok in goals:
        print(f"  {'PASS' if ok else 'FAIL'}  {text}")
    if not args.smoke and not all(ok for _, ok in goals):
        sys.exit(1)


if __name__ == "__main__":
    main()

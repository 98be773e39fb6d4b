"""The GPU acceptance run's checks beyond speed (``benchmarks/gpu_acceptance.py``), none of which
downloads anything. Each returns ``(ok, text)``: one row of the run's table and one goal.

* :func:`checkpoint_reload`: a locally saved open_clip RN50 checkpoint (QuickGELU weights) loaded
  through ``pretrained=<file>`` keeps QuickGELU and every weight, as OpenAI's RN50 needs.
* :func:`odd_coco_folder` turns a prepared COCO-layout folder into one with the files real data
  brings: a greyscale, a CMYK, a progressive, an EXIF-rotated, a tiny JPEG and a PNG named ``.jpg``,
  and captions far over CLIP's 77 tokens.
* :func:`ltd_run`: constrained LTD trained on that folder on the device (a stand-in sentence encoder,
  since the GPU machine has none), evaluated under the four shortcut conditions.
* :func:`two_processes`: two processes on two GPUs through ``torchrun``, or a stated skip with one.
"""
from __future__ import annotations

import json
import math
import os
import socket
import subprocess
import sys
import zlib
from pathlib import Path
from unittest import mock

import torch
from PIL import Image

from svl_lib import ltd
from svl_lib.config import ExperimentConfig
from svl_lib.evaluate.conditions import CONDITIONS
from svl_lib.experiments.experiment import run_experiment
from svl_lib.models import build_model
from svl_lib.experiments.run_folders import read_history

LONG_CAPTION = " ".join(["a photo of a red circle on a grey background near a small blue square"] * 8)


def uses_quick_gelu(model: torch.nn.Module) -> bool:
    from open_clip.transformer import QuickGELU
    return any(isinstance(m, QuickGELU) for m in model.modules())


def checkpoint_reload(tmp: Path, device: torch.device) -> tuple[bool, str]:
    """RN50 with QuickGELU (random weights) saved as a file, loaded back as ``pretrained=<file>``."""
    import open_clip
    torch.manual_seed(0)
    source = open_clip.create_model("RN50", force_quick_gelu=True)
    path = tmp / "rn50-quickgelu.pt"
    torch.save(source.state_dict(), path)
    model = build_model(ExperimentConfig(dataset="coco", model="clip", arch="RN50", pretrained=str(path))).to(device)
    loaded = model.clip.state_dict()
    same = all(torch.equal(loaded[k].cpu(), v) for k, v in source.state_dict().items())
    quick = uses_quick_gelu(model)
    return quick and same, (f"RN50 from a local file: QuickGELU {'kept' if quick else 'LOST'}, "
                            f"weights {'equal' if same else 'DIFFER'}")


def odd_coco_folder(root: Path) -> str:
    """Rewrite some of ``root``'s train and val images as odd files and make some captions long;
    returns what it did."""
    data_file = root / "dataset_coco.json"
    data = json.loads(data_file.read_text())
    odd = {"greyscale": lambda im, p: im.convert("L").save(p, quality=90),
           "CMYK": lambda im, p: im.convert("CMYK").save(p, "JPEG", quality=90),
           "progressive": lambda im, p: im.save(p, "JPEG", quality=90, progressive=True),
           "EXIF-rotated": lambda im, p: im.save(p, "JPEG", quality=90, exif=_rotated()),
           "tiny": lambda im, p: im.resize((40, 30)).save(p, "JPEG", quality=90),
           "PNG named .jpg": lambda im, p: im.save(p, "PNG")}
    for split in ("train", "val"):
        entries = [e for e in data["images"] if e["split"] == split]
        for entry, rewrite in zip(entries, odd.values()):
            path = root / "images" / entry["filepath"] / entry["filename"]
            with Image.open(path) as image:
                image.load()
            rewrite(image.convert("RGB"), path)
        for entry in entries[:3]:
            entry["sentences"][0]["raw"] = LONG_CAPTION
            entry["sentences"][0]["tokens"] = LONG_CAPTION.split()
    data_file.write_text(json.dumps(data))
    return f"{', '.join(odd)} JPEGs in train and val; {len(LONG_CAPTION.split())}-word captions"


def _rotated() -> Image.Exif:
    exif = Image.Exif()
    exif[0x0112] = 6  # Orientation: rotate 90 degrees
    return exif


def fake_encoder(name: str, device: str = "cpu"):
    """A stand-in sentence encoder (the GPU machine has no sentence-transformers): 32 numbers
    hashed from each caption's words, the same for the same caption."""
    def encode(texts: list[str]) -> torch.Tensor:
        return torch.tensor([[zlib.crc32(f"{i}:{t}".encode()) % 1000 / 1000 for i in range(32)] for t in texts])
    return encode


def ltd_run(root: Path, out: Path, arch: str, device: torch.device, batch_size: int,
            workers: int) -> tuple[bool, str]:
    """One epoch of constrained LTD on ``root`` on ``device``, evaluated under every condition."""
    config = ExperimentConfig(dataset="coco", data_root=str(root), model="clip", arch=arch, pretrained="",
                              shortcut_mode="unique", probes=False, eval_split="val",
                              eval_conditions=tuple(CONDITIONS), ltd="constrained", ltd_hidden=256,
                              ltd_target_cache=False, epochs=1, batch_size=batch_size, lr=1e-4,
                              num_workers=workers, device=str(device))
    with mock.patch.object(ltd, "load_sentence_encoder", fake_encoder):
        metrics = run_experiment(config, out, progress=False)
    history = read_history(out)
    rsum = {c: metrics["eval"][c]["rsum"] for c in CONDITIONS}
    ok = (bool(history) and all({"rec", "lambda"} <= set(h) for h in history)
          and all(math.isfinite(v) for v in rsum.values()))
    last = history[-1] if history else {}
    return ok, (f"{len(history)} steps on {device.type}, L_rec {last.get('rec', float('nan')):.3f}, "
                f"lambda {last.get('lambda', float('nan')):.2f}; RSUM "
                + ", ".join(f"{c} {v:.1f}" for c, v in rsum.items()))


def two_processes(root: Path, out: Path, arch: str, batch_size: int) -> tuple[bool | None, str]:
    """A run of two processes, one per GPU, through ``torchrun -m svl_lib.experiments.run``; ``None`` (skipped,
    with the reason) where fewer than two GPUs are visible: NCCL puts one process on each GPU."""
    gpus = torch.cuda.device_count() if torch.cuda.is_available() else 0
    if gpus < 2:
        return None, (f"skipped: {gpus} GPU(s) visible, NCCL needs one per process "
                      "(two processes on the CPU run in tests/test_distributed.py)")
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    args = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node", "2", "--master_port", str(port),
            "-m", "svl_lib.experiments.run", str(out), "--set", "dataset='coco'", f"data_root='{root}'", "model='clip'",
            f"arch='{arch}'", "pretrained=''", "shortcut_mode='unique'", "probes=False", "eval_split='val'",
            "eval_conditions=('clean',)", "epochs=1", f"batch_size={batch_size}", "lr=1e-4"]
    done = subprocess.run(args, capture_output=True, text=True, env={**os.environ, "CUDA_VISIBLE_DEVICES": "0,1"})
    ok = done.returncode == 0 and (out / "metrics.json").is_file()
    return ok, ("2 processes on 2 GPUs: trained and evaluated" if ok
                else f"2 processes failed (exit {done.returncode}): {done.stderr[-300:]}")

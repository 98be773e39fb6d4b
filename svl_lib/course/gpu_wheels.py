"""The set-up of the GPU acceptance run (``benchmarks/gpu_acceptance.py``) on a GPU machine without
network: ``make gpu-wheels`` (``python -m svl_lib.course.gpu_wheels``) on a machine with network.

Besides what a GPU machine's Python usually has (torch, torchvision, numpy, Pillow, scikit-learn,
SciPy, pandas, tqdm, regex), the run needs :data:`WHEELS`: open_clip_torch, ftfy, wcwidth and
mlxtend, at the versions ``constraints.txt`` pins. This command downloads exactly those wheels,
without their dependencies, for the GPU machine's Python (``--python-version``, default
:data:`PYTHON`) and platform (``--platform``, default :data:`PLATFORMS`: Linux x86-64; compiled
wheels such as wcwidth's are picked for that machine whatever this one is) into ``.wheels/`` in the
repository root (git-ignored); wheels of other versions left there by an earlier run are removed,
so that ``.wheels/*.whl`` is exactly the set. Then, on the GPU machine, with ``.wheels/`` copied
into its checkout, :data:`INSTALL` and :data:`RUN`::

    python -m svl_lib.course.gpu_wheels                          # Python 3.12, Linux x86-64, into .wheels/
    python -m svl_lib.course.gpu_wheels --python-version 3.11    # for a GPU machine with Python 3.11
    python -m svl_lib.course.gpu_wheels --find-links DIR         # from a folder of wheels, not the index

:func:`stack_problems` is the acceptance script's first step: it imports every module the run
needs (:data:`STACK`) and checks for a CUDA GPU, and :func:`stack_message` says what is missing and
the commands that fix it. Standard library only, so that it runs where nothing else is installed.
"""
from __future__ import annotations

import argparse
import importlib
import os
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout (where constraints.txt lives)
WHEELS = ("open_clip_torch", "ftfy", "wcwidth", "mlxtend")  # distributions, as constraints.txt names them
PYTHON = "3.12"
PLATFORMS = ("manylinux2014_x86_64", "manylinux_2_28_x86_64")
DEST = ".wheels"
INSTALL = "python3 -m pip install -q --no-index --no-deps --target /tmp/site .wheels/*.whl"
RUN = "PYTHONPATH=/tmp/site:. HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1 python3 benchmarks/gpu_acceptance.py"
# (module, distribution): what the acceptance run imports, in the order it is checked
STACK = (("numpy", "numpy"), ("PIL", "pillow"), ("torch", "torch"), ("torchvision", "torchvision"),
         ("sklearn", "scikit-learn"), ("scipy", "scipy"), ("pandas", "pandas"), ("tqdm", "tqdm"),
         ("ftfy", "ftfy"), ("wcwidth", "wcwidth"), ("mlxtend", "mlxtend"),
         ("open_clip", "open_clip_torch"))


class WheelsError(RuntimeError):
    """A problem gathering the wheels that the message explains."""


def canonical(name: str) -> str:
    """A distribution's name as pip compares them (PEP 503): ``open_clip_torch`` -> ``open-clip-torch``."""
    return re.sub(r"[-_.]+", "-", name).lower()


def pinned(constraints: Path, names: tuple[str, ...] = WHEELS) -> list[str]:
    """``name==version`` for each of ``names``, as ``constraints`` pins it."""
    try:
        lines = constraints.read_text().splitlines()
    except OSError as err:
        raise WheelsError(f"cannot read {constraints} ({err}): run this in the repository root, or "
                          "pass --constraints") from None
    pins = {}
    for line in lines:
        found = re.fullmatch(r"\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*==\s*([^\s;#]+).*", line)
        if found:
            pins[canonical(found[1])] = found[2]
    missing = [name for name in names if canonical(name) not in pins]
    if missing:
        raise WheelsError(f"{constraints} pins no version of {', '.join(missing)}")
    return [f"{name}=={pins[canonical(name)]}" for name in names]


def pip_download_args(requirements: list[str], dest: Path, python_version: str = PYTHON,
                      platforms: tuple[str, ...] = PLATFORMS, find_links: Path | None = None,
                      python: str = sys.executable) -> list[str]:
    """The ``pip download`` command that fetches the wheels of ``requirements`` (no dependencies,
    no source archives) for CPython ``python_version`` on ``platforms`` into ``dest``; with
    ``find_links``, from that folder only."""
    args = [python, "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
            "--disable-pip-version-check", "--python-version", python_version, "--implementation", "cp"]
    for platform in platforms:
        args += ["--platform", platform]
    if find_links is not None:
        args += ["--no-index", "--find-links", str(find_links)]
    return [*args, "--dest", str(dest), *requirements]


def wheel_name(path: Path) -> tuple[str, str]:
    """(canonical name, version) from a wheel's file name."""
    name, version = path.name.split("-")[:2]
    return canonical(name), version


def gather(dest: Path, requirements: list[str], python_version: str = PYTHON,
           platforms: tuple[str, ...] = PLATFORMS, find_links: Path | None = None) -> list[Path]:
    """Download the wheels of ``requirements`` into a fresh folder inside ``dest``, check that
    there is exactly one per requirement at its version, then move them into ``dest`` and remove
    the other wheels there. Returns the wheels' paths in ``dest``."""
    dest = Path(dest)
    dest.mkdir(parents=True, exist_ok=True)
    fresh = Path(tempfile.mkdtemp(prefix=".download-", dir=dest))
    try:
        args = pip_download_args(requirements, fresh, python_version, platforms, find_links)
        print(" ".join(shlex.quote(a) for a in args), flush=True)
        done = subprocess.run(args)
        if done.returncode != 0:
            raise WheelsError(f"pip download failed (exit status {done.returncode}, its output is "
                              "above): it needs the package index (network), or --find-links DIR")
        wheels = {wheel_name(p): p for p in fresh.glob("*.whl")}
        wanted = {(canonical(r.split("==")[0]), r.split("==")[1]) for r in requirements}
        if set(wheels) != wanted:
            raise WheelsError(f"pip download gave {sorted(p.name for p in wheels.values())}, not one "
                              f"wheel for each of {requirements}")
        for old in dest.glob("*.whl"):
            if old.name not in {p.name for p in wheels.values()}:
                old.unlink()
        for path in wheels.values():
            os.replace(path, dest / path.name)
        return sorted(dest / path.name for path in wheels.values())
    finally:
        shutil.rmtree(fresh, ignore_errors=True)


def stack_problems(cuda: bool) -> list[tuple[str, str, str]]:
    """``(module, distribution, why)`` for each module of :data:`STACK` that cannot be imported
    here (a module it imports that is missing: ``("<module> needs <that one>", its distribution,
    why)``), and ``("CUDA", "", why)`` when ``cuda`` and torch sees no CUDA GPU."""
    problems = []
    for module, distribution in STACK:
        try:
            importlib.import_module(module)
        except Exception as err:  # ImportError, or a broken install failing while it loads
            why = f"{type(err).__name__}: {err}"
            missing = (getattr(err, "name", None) or module).partition(".")[0]
            if isinstance(err, ModuleNotFoundError) and missing != module.partition(".")[0]:
                problems.append((f"{module} needs {missing}", dict(STACK).get(missing, missing), why))
            else:
                problems.append((module, distribution, why))
    if cuda and not any(module == "torch" for module, _, _ in problems):
        import torch
        if not torch.cuda.is_available():
            problems.append(("CUDA", "", f"torch {torch.__version__} (CUDA build "
                                         f"{torch.version.cuda}) sees no CUDA GPU"))
    return problems


def stack_message(problems: list[tuple[str, str, str]], root: Path = ROOT) -> str:
    """What is missing for the acceptance run and the commands that fix it."""
    lines = ["the GPU acceptance run cannot start here; missing:"]
    lines += [f"  {module}" + (f" ({distribution})" if distribution not in ("", *module.split()) else "")
              + f": {why}" for module, distribution, why in problems]
    wheels = sorted({d for _, d, _ in problems if d in WHEELS})
    others = sorted({d for _, d, _ in problems if d and d not in WHEELS})
    version = f"{sys.version_info.major}.{sys.version_info.minor}"
    if wheels:
        make = "make gpu-wheels" + ("" if version == PYTHON else f" GPU_PYTHON={version}")
        found = len(list((root / DEST).glob("*.whl")))
        lines.append(f"{', '.join(WHEELS)} come as wheels. On a machine with network, in the "
                     f"repository root, run `{make}` (without make: python -m svl_lib.course.gpu_wheels "
                     f"--python-version {version}) and copy the .wheels/ folder it fills into {root} "
                     "here" + (f" ({root / DEST} has {found} wheels already)" if found else "")
                     + f"; then install them, in {root}:")
        lines += [f"    {INSTALL.replace('python3', shlex.quote(sys.executable), 1)}",
                  f"and run it as: {RUN.replace('python3', shlex.quote(sys.executable))}"]
    if others:
        lines.append(f"Not among the wheels: install {', '.join(others)} into this Python "
                     f"({sys.executable}), or use one that has them.")
    if any(module == "CUDA" for module, _, _ in problems):
        lines.append("Run it on a machine with an NVIDIA GPU and a CUDA build of torch, or with "
                     "--smoke on a CPU.")
    return "\n".join(lines)


def require_stack(cuda: bool) -> None:
    """Exit with status 2 and :func:`stack_message` on stderr when :func:`stack_problems` finds any."""
    problems = stack_problems(cuda)
    if problems:
        print(f"error: {stack_message(problems)}", file=sys.stderr)
        sys.exit(2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--python-version", default=PYTHON, help="the GPU machine's Python (major.minor)")
    parser.add_argument("--platform", action="append", dest="platforms", metavar="TAG",
                        help=f"a wheel platform tag; repeat for several (default: {' '.join(PLATFORMS)})")
    parser.add_argument("--dest", type=Path, default=ROOT / DEST)
    parser.add_argument("--constraints", type=Path, default=ROOT / "constraints.txt",
                        help="where the versions are pinned")
    parser.add_argument("--find-links", type=Path, default=None,
                        help="take the wheels from this folder instead of the package index")
    args = parser.parse_args(argv)
    if not re.fullmatch(r"3\.\d+", args.python_version):
        parser.error(f"--python-version takes major.minor, e.g. {PYTHON}")
    try:
        wheels = gather(args.dest, pinned(args.constraints), args.python_version,
                        tuple(args.platforms or PLATFORMS), args.find_links)
    except WheelsError as err:
        print(f"error: {err}", file=sys.stderr)
        return 1
    print(f"{len(wheels)} wheels for Python {args.python_version} in {args.dest}:")
    for path in wheels:
        print(f"    {path.name}")
    print(f"Copy {args.dest.name}/ into the checkout on the GPU machine and run there, in its root:\n"
          f"    {INSTALL}\n    {RUN}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

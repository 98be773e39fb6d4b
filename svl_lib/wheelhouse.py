"""A room install without the internet: every package the course needs, as wheels in one folder.

``make wheelhouse`` (``python -m svl_lib.wheelhouse``) downloads, on a machine with network, the
wheels of the course package's dependencies and extras (:data:`EXTRAS`, as ``make setup``
installs) and of its build backend, for one named platform (:data:`PLATFORMS`) and Python, into
``wheelhouse/<platform>/`` (git-ignored). A teacher copies that folder to a USB stick or serves it
on the room's network; on each laptop, in the checkout, ``make setup WHEELS=<folder>`` (without
make: the :func:`install_command` it prints) installs from it with the package index switched off.

Platforms: ``linux-x86_64`` (PyPI's torch, a CUDA build: about 6 GB installed),
``linux-x86_64-cpu`` (PyTorch's CPU-only wheels from its own index, :data:`TORCH_CPU_INDEX`: far
smaller), ``macos-arm64`` and ``windows-x86_64`` (PyPI's torch is CPU-only there, or uses Apple's
GPU). Versions follow ``constraints.txt`` where it pins them (it is made on Linux; packages only
another platform needs resolve freely). Standard library only: it runs before anything is installed.
"""
from __future__ import annotations

import argparse
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent  # the checkout (pyproject.toml, constraints.txt)
EXTRAS = ("ltd", "course", "imagenet", "test")  # make setup's default EXTRAS
PYTHON = "3.11.7"  # the laptops' Python; constraints.txt is resolved on 3.11.7 (some pins need >= 3.11.5)
DEST = "wheelhouse"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH = ("torch", "torchvision")


@dataclass(frozen=True)
class Platform:
    """A platform a wheelhouse is made for: pip's wheel tags, and whether torch comes from
    PyTorch's CPU-only index instead of PyPI."""

    tags: tuple[str, ...]
    cpu_torch: bool = False


# pip widens a macOS tag to the older releases, a manylinux_2_X tag not: every glibc from Ubuntu 22.04's
# (2.35) down, then the legacy names (manylinux2014 widens to 2010 and 1)
LINUX = (*(f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)), "manylinux2014_x86_64", "linux_x86_64")
PLATFORMS = {
    "linux-x86_64": Platform(LINUX),
    "linux-x86_64-cpu": Platform(LINUX, cpu_torch=True),
    "macos-arm64": Platform(("macosx_14_0_arm64",)),
    "windows-x86_64": Platform(("win_amd64",)),
}


class WheelhouseError(RuntimeError):
    """A problem making or using a wheelhouse that the message explains."""


def requirements(pyproject: Path, extras: tuple[str, ...] = EXTRAS) -> list[str]:
    """The package's dependencies and those of ``extras`` (an extra naming the package's own
    extras, as ``dev`` does, expanded), then its build backend's."""
    try:
        import tomllib
    except ImportError:  # Python 3.10
        raise WheelhouseError("making a wheelhouse needs Python 3.11 or later (tomllib); the laptops "
                              "may have 3.10: pass --python-version 3.10") from None
    data = tomllib.loads(pyproject.read_text())
    project = data["project"]
    optional = project.get("optional-dependencies", {})
    name = project["name"]
    unknown = [e for e in extras if e not in optional]
    if unknown:
        raise WheelhouseError(f"unknown extras {unknown}; pyproject.toml has {sorted(optional)}")
    wanted, seen, todo = list(project["dependencies"]), set(), list(extras)
    while todo:
        extra = todo.pop(0)
        if extra in seen:
            continue
        seen.add(extra)
        for req in optional[extra]:
            own = re.fullmatch(rf"{re.escape(name)}\[(.+)\]", req.replace(" ", ""))
            if own:
                todo += own[1].split(",")
            elif req not in wanted:
                wanted.append(req)
    return wanted + [r for r in data["build-system"]["requires"] if r not in wanted]


def download_commands(platform: str, dest: Path, reqs: list[str], python_version: str = PYTHON,
                      constraints: Path | None = None, python: str = sys.executable) -> list[list[str]]:
    """The ``pip download`` commands that fill ``dest`` for ``platform``: wheels only, for CPython
    ``python_version`` on the platform's tags; for a CPU-only platform, torch and torchvision first
    from PyTorch's CPU index, then everything else from PyPI with those wheels in place."""
    if platform not in PLATFORMS:
        raise WheelhouseError(f"unknown platform {platform!r}; choose one of {', '.join(PLATFORMS)}")
    spec = PLATFORMS[platform]
    base = [python, "-m", "pip", "download", "--only-binary=:all:", "--disable-pip-version-check",
            "--python-version", python_version, "--implementation", "cp", "--dest", str(dest)]
    for tag in spec.tags:
        base += ["--platform", tag]
    pins = ["--constraint", str(constraints)] if constraints is not None else []
    if not spec.cpu_torch:
        return [[*base, *pins, *reqs]]
    torch = [r for r in reqs if _name(r) in TORCH]
    return [[*base, "--index-url", TORCH_CPU_INDEX, "--no-deps", *torch],
            [*base, "--find-links", str(dest), *pins, *reqs]]


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def install_command(wheels: Path, extras: tuple[str, ...] = EXTRAS, python: str = ".venv/bin/python") -> list[str]:
    """The install from a wheelhouse, with no package index (what ``make setup WHEELS=...`` runs)."""
    return [python, "-m", "pip", "install", "--no-index", "--find-links", str(wheels),
            "-e", f".[{','.join(extras)}]"]


def size(folder: Path) -> int:
    """Bytes of the wheels in ``folder``."""
    return sum(p.stat().st_size for p in folder.glob("*.whl"))


def build(platform: str, dest: Path, python_version: str = PYTHON, extras: tuple[str, ...] = EXTRAS,
          root: Path = ROOT) -> Path:
    """Download ``platform``'s wheelhouse into ``dest/<platform>`` and return that folder. Wheels
    already there are kept and reused (pip skips what it has), nothing else in it is touched."""
    folder = Path(dest) / platform
    folder.mkdir(parents=True, exist_ok=True)
    constraints = root / "constraints.txt"
    for args in download_commands(platform, folder, requirements(root / "pyproject.toml", extras),
                                  python_version, constraints if constraints.exists() else None):
        print(" ".join(shlex.quote(a) for a in args), flush=True)
        done = subprocess.run(args)
        if done.returncode != 0:
            where = "PyTorch's CPU index" if TORCH_CPU_INDEX in args else "the package index"
            raise WheelhouseError(f"pip download failed (exit status {done.returncode}, its output is "
                                  f"above): it needs {where}; a re-run keeps the wheels it has")
    return folder


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--platform", required=True, choices=list(PLATFORMS))
    parser.add_argument("--python-version", default=PYTHON,
                        help="the laptops' Python, major.minor.micro (packages check Requires-Python against it)")
    parser.add_argument("--extras", default=",".join(EXTRAS), help="the course package's extras")
    parser.add_argument("--dest", type=Path, default=ROOT / DEST)
    args = parser.parse_args(argv)
    if not re.fullmatch(r"3\.\d+(\.\d+)?", args.python_version):
        parser.error(f"--python-version takes major.minor[.micro], e.g. {PYTHON}")
    extras = tuple(e for e in args.extras.split(",") if e)
    try:
        folder = build(args.platform, args.dest, args.python_version, extras)
    except WheelhouseError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"{folder}: {len(list(folder.glob('*.whl')))} wheels, {size(folder) / 1e9:.2f} GB. On each "
          f"laptop, in the checkout: make setup WHEELS={folder} (without make: python3 -m venv .venv && "
          f"{' '.join(install_command(folder, extras))})")
    return 0


if __name__ == "__main__":
    sys.exit(main())

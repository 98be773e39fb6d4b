"""A room install without the internet: every package the course needs, as wheels in one folder.

``make wheelhouse`` (``python -m svl_lib.course.wheelhouse``) downloads, on a machine with network, the
wheels of the course package's dependencies and extras (:data:`EXTRAS`, as ``make setup``
installs) and of its build backend, for one named platform (:data:`PLATFORMS`) and Python, into
``wheelhouse/<platform>/`` (git-ignored). A teacher copies that folder to a USB stick or serves it
on the room's network; on each laptop, in the checkout, ``make setup WHEELS=<folder>`` (without
make: the :func:`install_command` it prints) installs from it with the package index switched off.

Platforms: ``linux-x86_64`` (PyPI's torch, a CUDA build: about 6 GB installed),
``linux-x86_64-cpu`` (PyTorch's CPU-only wheels from its own index, :data:`TORCH_CPU_INDEX`: far
smaller), ``macos-arm64`` and ``windows-x86_64`` (PyPI's torch is CPU-only there, or uses Apple's
GPU). Versions follow ``constraints.txt`` where it pins them (it is made on Linux; packages only
another platform needs resolve freely). pip resolves for the platform it runs on only (it judges
dependency markers such as ``platform_system == "Linux"`` by this machine), so for another platform
``uv pip compile --python-platform`` resolves and pip downloads exactly that list. Standard library
only (and uv for another platform): it runs before anything is installed.
"""
from __future__ import annotations

import argparse
import os
import platform
import re
import shlex
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]  # the checkout (pyproject.toml, constraints.txt)
EXTRAS = ("ltd", "course", "imagenet", "test")  # make setup's default EXTRAS
PYTHON = "3.11.7"  # the laptops' Python; constraints.txt is resolved on 3.11.7 (some pins need >= 3.11.5)
DEST = "wheelhouse"
TORCH_CPU_INDEX = "https://download.pytorch.org/whl/cpu"
TORCH = ("torch", "torchvision")


@dataclass(frozen=True)
class Platform:
    """A platform a wheelhouse is made for: pip's wheel tags, uv's name of the platform (for
    resolving its dependencies from another one) and whether torch comes from PyTorch's CPU-only
    index instead of PyPI."""

    tags: tuple[str, ...]
    uv_platform: str
    cpu_torch: bool = False


# pip widens a macOS tag to the older releases, a manylinux_2_X tag not: every glibc from Ubuntu 22.04's
# (2.35) down, then the legacy names (manylinux2014 widens to 2010 and 1)
LINUX = (*(f"manylinux_2_{minor}_x86_64" for minor in range(35, 16, -1)), "manylinux2014_x86_64", "linux_x86_64")
PLATFORMS = {
    "linux-x86_64": Platform(LINUX, "x86_64-unknown-linux-gnu"),
    "linux-x86_64-cpu": Platform(LINUX, "x86_64-unknown-linux-gnu", cpu_torch=True),
    "macos-arm64": Platform(("macosx_14_0_arm64",), "aarch64-apple-darwin"),
    "windows-x86_64": Platform(("win_amd64",), "x86_64-pc-windows-msvc"),
}


def here() -> str:
    """The platform of :data:`PLATFORMS` this machine is (Linux x86-64 is "linux-x86_64"), or ""."""
    machine = platform.machine().lower()
    return {("linux", "x86_64"): "linux-x86_64", ("darwin", "arm64"): "macos-arm64",
            ("windows", "amd64"): "windows-x86_64"}.get((platform.system().lower(), machine), "")


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


def download_commands(target: str, dest: Path, reqs: list[str], python_version: str = PYTHON,
                      constraints: Path | None = None, python: str = sys.executable,
                      pinned: Path | None = None) -> list[list[str]]:
    """The ``pip download`` commands that fill ``dest`` for ``target``: wheels only, for CPython
    ``python_version`` on the platform's tags; for a CPU-only platform, torch and torchvision first
    from PyTorch's CPU index, then everything else from PyPI with those wheels in place. With
    ``pinned`` (a resolved requirements file, :func:`resolve_command`), exactly those wheels,
    without resolving again (pip judges a dependency's platform markers by the machine it runs on,
    not by ``--platform``)."""
    if target not in PLATFORMS:
        raise WheelhouseError(f"unknown platform {target!r}; choose one of {', '.join(PLATFORMS)}")
    spec = PLATFORMS[target]
    base = [python, "-m", "pip", "download", "--only-binary=:all:", "--disable-pip-version-check",
            "--python-version", python_version, "--implementation", "cp", "--dest", str(dest)]
    for tag in spec.tags:
        base += ["--platform", tag]
    if pinned is not None:
        return [[*base, "--no-deps", "-r", str(pinned)]]
    pins = ["--constraint", str(constraints)] if constraints is not None else []
    if not spec.cpu_torch:
        return [[*base, *pins, *reqs]]
    torch = [r for r in reqs if _name(r) in TORCH]
    return [[*base, "--index-url", TORCH_CPU_INDEX, "--no-deps", *torch],
            [*base, "--find-links", str(dest), *pins, *reqs]]


def resolve_command(target: str, requirements_file: Path, pinned: Path, python_version: str = PYTHON,
                    constraints: Path | None = None) -> list[str]:
    """``uv pip compile`` of ``requirements_file`` for ``target``'s platform and Python into
    ``pinned``: every dependency the platform needs (its own markers), at ``constraints``' pins."""
    args = ["uv", "pip", "compile", str(requirements_file), "--python-platform", PLATFORMS[target].uv_platform,
            "--python-version", python_version, "--no-header", "--quiet", "-o", str(pinned)]
    return args + (["--constraint", str(constraints)] if constraints is not None else [])


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~;\[ ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


def install_command(wheels: Path, extras: tuple[str, ...] = EXTRAS, python: str = ".venv/bin/python") -> list[str]:
    """The install from a wheelhouse, with no package index (what ``make setup WHEELS=...`` runs)."""
    return [python, "-m", "pip", "install", "--no-index", "--find-links", str(wheels),
            "-e", f".[{','.join(extras)}]"]


def size(folder: Path) -> int:
    """Bytes of the wheels in ``folder``."""
    return sum(p.stat().st_size for p in folder.glob("*.whl"))


def build(target: str, dest: Path, python_version: str = PYTHON, extras: tuple[str, ...] = EXTRAS,
          root: Path = ROOT) -> Path:
    """Download ``target``'s wheelhouse into ``dest/<target>`` and return that folder. Wheels
    already there are kept and reused (pip skips what it has); for another platform than this one
    its resolved list is written there too (``requirements.in``, ``requirements.txt``)."""
    folder = Path(dest) / target
    folder.mkdir(parents=True, exist_ok=True)
    constraints = root / "constraints.txt"
    constraints = constraints if constraints.exists() else None
    reqs = requirements(root / "pyproject.toml", extras)
    pinned = None
    commands = []
    native = here()
    if not native or PLATFORMS[target].uv_platform != PLATFORMS[native].uv_platform:
        # pip cannot resolve for another platform: uv resolves, pip downloads exactly that list
        if shutil.which("uv") is None:
            raise WheelhouseError(f"a wheelhouse for {target} made on another platform needs uv to "
                                  "resolve its dependencies: pip install uv (or run this on that platform)")
        wanted, pinned = folder / "requirements.in", folder / "requirements.txt"
        wanted.write_text("\n".join(reqs) + "\n")
        commands.append(resolve_command(target, wanted, pinned, python_version, constraints))
    commands += download_commands(target, folder, reqs, python_version, constraints, pinned=pinned)
    for args in commands:
        print(" ".join(shlex.quote(a) for a in args), flush=True)
        done = subprocess.run(args, env={**os.environ, **uv_environment(target)} if args[0] == "uv" else None)
        if done.returncode != 0:
            where = "PyTorch's CPU index" if TORCH_CPU_INDEX in args else "the package index"
            raise WheelhouseError(f"{args[0] if args[0] == 'uv' else 'pip download'} failed (exit status "
                                  f"{done.returncode}; its output above says why): it needs {where}; a "
                                  "re-run keeps the wheels it has")
    return folder


def uv_environment(target: str) -> dict[str, str]:
    """What uv needs besides its arguments: for macOS, the oldest release the wheels may ask for
    (uv assumes 13.0; torch's arm64 wheels need 14.0), from the platform's first tag."""
    tag = PLATFORMS[target].tags[0]
    if not tag.startswith("macosx_"):
        return {}
    major, minor = tag.split("_")[1:3]
    return {"MACOSX_DEPLOYMENT_TARGET": f"{major}.{minor}"}


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

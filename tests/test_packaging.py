"""The set-up files agree with each other."""
import re
import tomllib
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent


def _name(requirement: str) -> str:
    return re.split(r"[<>=!~ \[;]", requirement.strip(), maxsplit=1)[0].lower().replace("_", "-")


def _all_requirements(project: dict) -> set[str]:
    """The core and every extra, without the extras that only name other extras."""
    extras = project["optional-dependencies"]
    return set(project["dependencies"]) | {r for reqs in extras.values() for r in reqs
                                           if not r.startswith("svl_lib[")}


def test_environment_yml_lists_the_same_dependencies_as_pyproject() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    wanted = _all_requirements(project)
    env = yaml.safe_load((ROOT / "environment.yml").read_text())
    pip = next(d["pip"] for d in env["dependencies"] if isinstance(d, dict))
    assert "-e ." in pip
    listed = {r for r in pip if r != "-e ."}
    assert {_name(r): r for r in listed} == {_name(r): r for r in wanted}
    assert "python=3.11" in env["dependencies"]


def test_constraints_pin_the_reference_torch() -> None:
    pins = dict(line.split("==") for line in (ROOT / "constraints.txt").read_text().splitlines()
                if "==" in line and not line.startswith("#"))
    assert pins["torch"] == "2.14.1" and pins["torchvision"] == "0.29.1"
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for requirement in project["dependencies"]:
        assert ">=" in requirement and "==" not in requirement, f"{requirement}: use a range"


def test_the_core_is_small_and_dev_installs_every_extra() -> None:
    """Colab's own torch, ipykernel and ipywidgets are never replaced by installing the core:
    the kernel packages and the heavy optional stacks live in extras, all of them in `dev`."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    core = {_name(r) for r in project["dependencies"]}
    assert core == {"torch", "torchvision", "numpy", "pillow", "scikit-learn", "scipy", "mlxtend",
                    "threadpoolctl", "pandas", "matplotlib", "seaborn", "tqdm"}
    extras = project["optional-dependencies"]
    assert extras["dev"] == ["svl_lib[" + ",".join(k for k in extras if k != "dev") + "]"]
    for package in ("ipykernel", "ipywidgets", "papermill", "sentence-transformers", "open-clip-torch"):
        assert package not in core


def test_the_core_imports_without_the_extras() -> None:
    """`import svl_lib.experiments.experiment` (the whole toy pipeline) needs no extra at import time."""
    import subprocess
    import sys

    blocked = ["sentence_transformers", "open_clip", "accelerate", "papermill", "ipywidgets"]
    code = ("import sys\n"
            f"for name in {blocked!r}: sys.modules[name] = None\n"
            "import svl_lib.experiments.experiment, svl_lib.experiments.sweep, svl_lib.experiments.results, svl_lib.course.plots\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr


def test_a_built_wheel_ships_every_resource_and_reads_it_from_the_zip(tmp_path) -> None:
    """pyproject's package-data puts every file of svl_lib/resources into the wheel, and the library
    reads them through importlib.resources: imported from the wheel itself (a zip, where
    ``Path(__file__)`` reads would fail), every grid loads and every committed table reads."""
    import os
    import shutil
    import subprocess
    import sys
    import zipfile

    source = tmp_path / "source"  # a copy, so that the build leaves nothing in the checkout
    shutil.copytree(ROOT / "svl_lib", source / "svl_lib", ignore=shutil.ignore_patterns("__pycache__"))
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(ROOT / name, source / name)
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
                    "--wheel-dir", str(tmp_path), str(source)], check=True, capture_output=True)
    wheel = next(tmp_path.glob("svl_lib-*.whl"))
    resources = ROOT / "svl_lib" / "resources"
    shipped = {p.relative_to(ROOT).as_posix() for p in resources.rglob("*")
               if p.is_file() and "__pycache__" not in p.parts}
    assert shipped <= set(zipfile.ZipFile(wheel).namelist())
    grids = sorted(p.stem for p in (resources / "grids").glob("*.json"))
    results = sorted(p.stem for p in (resources / "grid_results").glob("*.csv"))
    code = ("import sys, svl_lib\n"
            "from svl_lib.experiments.grids import grid_names, load_grid\n"
            "from svl_lib.experiments.results import grid_results, paper_results\n"
            "print(svl_lib.__file__)\n"
            "print([load_grid(n).name for n in grid_names()])\n"
            "print(len(paper_results()) > 0)\n"
            "print([n for n in sys.argv[1:] if len(grid_results(n)) > 0])\n")
    done = subprocess.run([sys.executable, "-c", code, *results], env={**os.environ, "PYTHONPATH": str(wheel)},
                          cwd=tmp_path, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    where, *found = done.stdout.splitlines()
    assert where.startswith(str(wheel)), where  # imported from the zip, not from the checkout
    assert found == [str(grids), "True", str(results)]

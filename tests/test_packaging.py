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
    """`import svl_lib.experiment` (the whole toy pipeline) needs no extra at import time."""
    import subprocess
    import sys

    blocked = ["sentence_transformers", "open_clip", "accelerate", "papermill", "ipywidgets"]
    code = ("import sys\n"
            f"for name in {blocked!r}: sys.modules[name] = None\n"
            "import svl_lib.experiment, svl_lib.sweep, svl_lib.results, svl_lib.plots\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert done.returncode == 0, done.stderr

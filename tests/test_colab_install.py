"""Installing the course where no checkout is around, as on Colab.

The host is a fresh virtual environment that sees every package of this one except ``svl_lib`` (a
``.pth`` file points at a folder of links), as Colab has torch, ipykernel and ipywidgets but not the
course. ``SVL_REPO_URL`` points at a local clone of this repository (its committed state).
"""
import json
import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
BOOKS = sorted((ROOT / "notebooks").glob("[0-9][0-9]_*.ipynb"))
COURSE_ONLY = ("svl_lib", "__editable__")  # what the host must not see of this environment

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def host(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("colab")
    clone = base / "clone"
    subprocess.run(["git", "clone", "--quiet", str(ROOT), str(clone)], check=True)
    venv = base / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    python = venv / "bin" / "python"
    # a current pip, as Colab has (the pip that venv bundles rejects git+file:/// requirements)
    subprocess.run([str(python), "-m", "pip", "install", "--quiet", "--upgrade", "pip"], check=True)
    # and no packages of its own beyond pip: the host's setuptools is this environment's
    subprocess.run([str(python), "-m", "pip", "uninstall", "--quiet", "--yes", "setuptools"], check=True)
    view = base / "host-packages"
    view.mkdir()
    for entry in Path(sysconfig.get_paths()["purelib"]).iterdir():
        if not entry.name.startswith(COURSE_ONLY) and entry.suffix != ".pth":
            (view / entry.name).symlink_to(entry)
    purelib = subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                             check=True, capture_output=True, text=True).stdout.strip()
    Path(purelib, "host-packages.pth").write_text(f"{view}\n")
    path = [p for p in os.environ["PATH"].split(os.pathsep) if not p.startswith(sys.prefix)]
    env = {**os.environ, "SVL_REPO_URL": f"file://{clone}", "PATH": os.pathsep.join([str(venv / "bin"), *path]),
           "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    return {"python": str(python), "env": env, "base": base}


def setup_spec(book: Path, repo_url: str) -> str:
    source = next("".join(c["source"]) for c in json.loads(book.read_text())["cells"]
                  if "".join(c["source"]).startswith("# Setup:"))
    extras = source.split('EXTRAS = "')[1].split('"')[0]
    return f"svl_lib{extras} @ git+{repo_url}"


def test_the_setup_cells_install_plan_replaces_none_of_the_hosts_packages(host) -> None:
    probe = [host["python"], "-c", "import torch, ipykernel, ipywidgets, svl_lib"]
    assert "No module named 'svl_lib'" in subprocess.run(probe, env=host["env"], cwd=host["base"],
                                                         capture_output=True, text=True).stderr
    for spec in sorted({setup_spec(book, host["env"]["SVL_REPO_URL"]) for book in BOOKS}):
        report = host["base"] / "report.json"
        subprocess.run([host["python"], "-m", "pip", "install", "--quiet", "--dry-run", "--report",
                        str(report), spec], env=host["env"], cwd=host["base"], check=True)
        plan = [item["metadata"]["name"] for item in json.loads(report.read_text())["install"]]
        assert plan == ["svl_lib"], f"{spec} would install {plan}"


def test_every_notebook_installs_the_course_outside_a_checkout_and_runs_fast(host) -> None:
    work = host["base"] / "work"
    work.mkdir()
    env = {**host["env"], "SVL_RUNS_DIR": str(work / "runs"), "SVL_FIGURES_DIR": str(work / "figures")}
    for book in BOOKS:
        subprocess.run([host["python"], "-m", "papermill", str(book), str(work / book.name), "-k",
                        "python3", "--cwd", str(work), "-p", "FAST", "True", "--no-progress-bar"],
                       env=env, check=True, capture_output=True)
    where = subprocess.run([host["python"], "-c", "import svl_lib; print(svl_lib.__file__)"], env=env,
                           cwd=work, check=True, capture_output=True, text=True).stdout
    assert where.startswith(str(host["base"] / "venv")), where  # installed by the setup cell, not linked
    assert sorted(p.name for p in work.glob("*.ipynb")) == [b.name for b in BOOKS]
    for book in BOOKS:  # each saved its figures (as the FAST runs of make test check in the checkout)
        assert list((work / "figures").glob(f"{book.name[:2]}_*.png")), book.name

"""The GPU acceptance run's set-up: ``make gpu-wheels`` (:mod:`svl_lib.course.gpu_wheels`) gathers exactly
the wheels the run installs, for the GPU machine's Python, and the script checks its stack first,
failing within seconds with one message that says what is missing and how to get it, before it
writes anything. No network: pip reads a local folder of fake wheels."""
import os
import re
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import pytest

from svl_lib.course import gpu_wheels

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "gpu_acceptance.py"
PINS = ["open_clip_torch==3.3.0", "ftfy==6.3.1", "wcwidth==0.9.4", "mlxtend==0.25.0"]
GPU_WHEELS = ["ftfy-6.3.1-py3-none-any.whl", "mlxtend-0.25.0-py3-none-any.whl",
              "open_clip_torch-3.3.0-py3-none-any.whl", "wcwidth-0.9.4-cp312-cp312-manylinux2014_x86_64.whl"]


def fake_wheel(folder: Path, file_name: str) -> None:
    """A wheel pip accepts (name, version and tag in its file name and metadata), with no code."""
    dist, version, tag = file_name.removesuffix(".whl").split("-", 2)
    info = f"{dist}-{version}.dist-info"
    with zipfile.ZipFile(folder / file_name, "w") as z:
        z.writestr(f"{info}/METADATA", f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
        z.writestr(f"{info}/WHEEL", f"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\n"
                                    f"Tag: {tag}\n")
        z.writestr(f"{info}/RECORD", "")


def test_the_versions_are_constraints_txts_and_the_acceptance_scripts() -> None:
    assert gpu_wheels.pinned(ROOT / "constraints.txt") == PINS
    constraints = (ROOT / "constraints.txt").read_text()
    assert all(re.search(rf"^{re.escape(pin)}$", constraints, re.M) for pin in PINS)


def test_the_pip_download_command_asks_for_binary_wheels_for_the_gpu_python(tmp_path) -> None:
    args = gpu_wheels.pip_download_args(PINS, tmp_path / "w", "3.12", python="python")
    assert args == ["python", "-m", "pip", "download", "--no-deps", "--only-binary=:all:",
                    "--disable-pip-version-check", "--python-version", "3.12", "--implementation", "cp",
                    "--platform", "manylinux2014_x86_64", "--platform", "manylinux_2_28_x86_64",
                    "--dest", str(tmp_path / "w"), *PINS]
    local = gpu_wheels.pip_download_args(PINS, tmp_path, "3.11", ("linux_x86_64",), tmp_path / "index")
    assert local[local.index("--python-version") + 1] == "3.11"
    assert local[local.index("--platform"):local.index("--platform") + 2] == ["--platform", "linux_x86_64"]
    assert "--no-index" in local and local[local.index("--find-links") + 1] == str(tmp_path / "index")


def test_gathering_takes_exactly_the_pinned_wheels_for_that_python_and_drops_stale_ones(tmp_path) -> None:
    index, dest = tmp_path / "index", tmp_path / ".wheels"
    index.mkdir()
    dest.mkdir()
    decoys = ["ftfy-6.2.0-py3-none-any.whl", "wcwidth-0.9.4-cp311-cp311-manylinux2014_x86_64.whl",
              "wcwidth-0.9.4-cp312-cp312-win_amd64.whl", "mlxtend-0.24.0-py3-none-any.whl",
              "open_clip_torch-3.2.0-py3-none-any.whl"]
    for name in GPU_WHEELS + decoys:
        fake_wheel(index, name)
    fake_wheel(dest, "ftfy-6.2.0-py3-none-any.whl")  # left by an earlier run
    assert gpu_wheels.main(["--dest", str(dest), "--find-links", str(index)]) == 0
    assert sorted(p.name for p in dest.iterdir()) == GPU_WHEELS  # nothing else, no temporary folder


def test_a_failed_download_is_one_error_and_leaves_the_wheels_there(tmp_path, monkeypatch, capsys) -> None:
    dest = tmp_path / ".wheels"
    dest.mkdir()
    fake_wheel(dest, "ftfy-6.3.1-py3-none-any.whl")
    calls = []
    monkeypatch.setattr(gpu_wheels.subprocess, "run",
                        lambda args, **kw: calls.append(args) or subprocess.CompletedProcess(args, 1))
    assert gpu_wheels.main(["--dest", str(dest), "--python-version", "3.11"]) == 1
    assert "pip download failed" in capsys.readouterr().err
    assert calls[0][calls[0].index("--python-version") + 1] == "3.11" and calls[0][-4:] == PINS
    assert sorted(p.name for p in dest.iterdir()) == ["ftfy-6.3.1-py3-none-any.whl"]


def test_make_gpu_wheels_runs_the_module_for_python_3_12_into_the_ignored_wheels_folder() -> None:
    dry = subprocess.run(["make", "-n", "gpu-wheels"], cwd=ROOT, check=True, capture_output=True, text=True)
    assert f"{ROOT}/.venv/bin/python -m svl_lib.course.gpu_wheels --python-version 3.12" in dry.stdout
    makefile = (ROOT / "Makefile").read_text()
    assert re.search(r"^\.PHONY:.* gpu-wheels", makefile, re.M)
    assert re.search(r"^gpu-wheels:.*## ", makefile, re.M)
    assert "/.wheels/" in (ROOT / ".gitignore").read_text().splitlines()


def test_the_stack_check_names_what_is_missing_and_the_commands_that_fix_it(monkeypatch, tmp_path) -> None:
    def import_module(name: str):
        if name in ("open_clip", "mlxtend"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
        return sys  # any module: the others are there

    monkeypatch.setattr(gpu_wheels.importlib, "import_module", import_module)
    problems = gpu_wheels.stack_problems(cuda=False)
    assert [p[:2] for p in problems] == [("mlxtend", "mlxtend"), ("open_clip", "open_clip_torch")]
    message = gpu_wheels.stack_message(problems, root=tmp_path)
    assert "open_clip (open_clip_torch): ModuleNotFoundError: No module named 'open_clip'" in message
    assert "make gpu-wheels" in message and "python -m svl_lib.course.gpu_wheels" in message
    assert "-m pip install -q --no-index --no-deps --target /tmp/site .wheels/*.whl" in message
    assert "wheels already" not in message
    (tmp_path / ".wheels").mkdir()  # the wheels copied here already: the message says so
    fake_wheel(tmp_path / ".wheels", GPU_WHEELS[0])
    assert f"{tmp_path / '.wheels'} has 1 wheels already" in gpu_wheels.stack_message(problems, root=tmp_path)


def test_a_module_missing_below_a_wheel_is_named_as_such(monkeypatch) -> None:
    def import_module(name: str):
        if name == "open_clip":  # installed from its wheel, but its dependency regex is not there
            raise ModuleNotFoundError("No module named 'regex'", name="regex")
        return sys

    monkeypatch.setattr(gpu_wheels.importlib, "import_module", import_module)
    problems = gpu_wheels.stack_problems(cuda=False)
    assert [p[:2] for p in problems] == [("open_clip needs regex", "regex")]
    message = gpu_wheels.stack_message(problems)
    assert "  open_clip needs regex: ModuleNotFoundError" in message
    assert "install regex into this Python" in message and "make gpu-wheels" not in message


def test_the_stack_check_wants_a_gpu_unless_smoke(monkeypatch) -> None:
    import torch

    monkeypatch.setattr(gpu_wheels.importlib, "import_module", lambda name: sys)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert gpu_wheels.stack_problems(cuda=False) == []
    problems = gpu_wheels.stack_problems(cuda=True)
    assert [p[0] for p in problems] == ["CUDA"]
    assert "--smoke" in gpu_wheels.stack_message(problems)


HIDE = """
import runpy, sys
class Hide:  # open_clip and mlxtend not installed
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in ("open_clip", "mlxtend"):
            raise ModuleNotFoundError(f"No module named {name!r}", name=name)
sys.meta_path.insert(0, Hide())
sys.argv = [sys.argv[1], *sys.argv[2:]]
runpy.run_path(sys.argv[0], run_name="__main__")
"""


@pytest.mark.parametrize("smoke", [True, False])
def test_the_acceptance_script_stops_at_once_without_open_clip_and_writes_nothing(tmp_path, smoke) -> None:
    scratch = tmp_path / "tmp"  # the script's data goes to a temporary folder: here
    scratch.mkdir()
    env = {**os.environ, "TMPDIR": str(scratch), "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", HIDE, str(SCRIPT), *(["--smoke"] if smoke else [])],
                          capture_output=True, text=True, env=env, cwd=tmp_path, timeout=300)
    seconds = time.perf_counter() - started
    assert done.returncode == 2, done.stderr[-3000:]
    assert "Traceback" not in done.stderr and done.stderr.startswith("error: ")
    assert [line for line in done.stderr.splitlines() if line.startswith("error")] == [done.stderr.splitlines()[0]]
    assert "open_clip (open_clip_torch)" in done.stderr and "mlxtend" in done.stderr
    assert "make gpu-wheels" in done.stderr and "--target /tmp/site .wheels/*.whl" in done.stderr
    assert ("sees no CUDA GPU" in done.stderr) == (not smoke and not _has_cuda())
    written = [p.name for p in scratch.iterdir() if not p.name.startswith("torchinductor_")]  # torch's own
    assert done.stdout == "" and written == [] and sorted(tmp_path.iterdir()) == [scratch]
    assert seconds < 120  # the imports only (a few seconds on an idle machine)


def _has_cuda() -> bool:
    import torch

    return torch.cuda.is_available()

"""The room install (svl_lib.course.wheelhouse, make wheelhouse, make setup WHEELS=...): what is
downloaded for which platform, and an install that never asks the package index."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from svl_lib.course import wheelhouse

ROOT = Path(__file__).resolve().parent.parent


def test_the_requirements_are_the_core_the_extras_and_the_build_backend() -> None:
    reqs = wheelhouse.requirements(ROOT / "pyproject.toml")
    names = [wheelhouse._name(r) for r in reqs]
    assert names[:2] == ["torch", "torchvision"]
    assert {"sentence-transformers", "papermill", "timm", "pytest", "setuptools", "wheel"} <= set(names)
    assert "open-clip-torch" not in names  # the real extra is not make setup's
    dev = [wheelhouse._name(r) for r in wheelhouse.requirements(ROOT / "pyproject.toml", ("dev",))]
    assert {"open-clip-torch", "submitit", "sphinx"} <= set(dev) and len(dev) == len(set(dev))
    with pytest.raises(wheelhouse.WheelhouseError, match="unknown extras"):
        wheelhouse.requirements(ROOT / "pyproject.toml", ("gpu",))


@pytest.mark.parametrize("platform, tag", [("linux-x86_64", "manylinux_2_27_x86_64"),
                                           ("macos-arm64", "macosx_14_0_arm64"),
                                           ("windows-x86_64", "win_amd64")])
def test_each_platform_downloads_wheels_only_for_its_tags(platform, tag, tmp_path) -> None:
    [command] = wheelhouse.download_commands(platform, tmp_path, ["torch>=2.1", "pandas"], "3.12",
                                             tmp_path / "c.txt", python="py")
    assert command[:4] == ["py", "-m", "pip", "download"] and "--only-binary=:all:" in command
    assert command[command.index("--python-version") + 1] == "3.12"
    assert tag in command and command[command.index("--constraint") + 1] == str(tmp_path / "c.txt")
    assert command[-2:] == ["torch>=2.1", "pandas"] and "--index-url" not in command


def test_the_cpu_platform_takes_torch_from_pytorch_s_cpu_index_first(tmp_path) -> None:
    first, second = wheelhouse.download_commands("linux-x86_64-cpu", tmp_path, ["torch>=2.1", "torchvision",
                                                                               "numpy"], python="py")
    assert first[first.index("--index-url") + 1] == wheelhouse.TORCH_CPU_INDEX
    assert first[-2:] == ["torch>=2.1", "torchvision"] and "--no-deps" in first
    assert second[second.index("--find-links") + 1] == str(tmp_path) and "--index-url" not in second
    with pytest.raises(wheelhouse.WheelhouseError, match="unknown platform"):
        wheelhouse.download_commands("amiga", tmp_path, [])


def dry_make(*args: str) -> str:
    return subprocess.run(["make", "-n", "--always-make", "setup", *args], cwd=ROOT, check=True,
                          capture_output=True, text=True).stdout


def test_make_setup_with_wheels_installs_with_the_index_off(tmp_path) -> None:
    """With WHEELS, every pip command of make setup reads that folder only (no index, no pip
    upgrade); without it, nothing changes; TORCH=cpu installs torch from the CPU index first."""
    pips = [line for line in dry_make(f"WHEELS={tmp_path}").splitlines() if "-m pip" in line]
    assert len(pips) == 1 and f"--no-index --find-links {tmp_path}" in pips[0]
    assert wheelhouse.install_command(tmp_path)[3:] == ["install", "--no-index", "--find-links", str(tmp_path),
                                                       "-e", ".[ltd,course,imagenet,test]"]
    plain = [line for line in dry_make().splitlines() if "-m pip" in line]
    assert len(plain) == 2 and not any("--no-index" in line for line in plain)
    cpu = [line for line in dry_make("TORCH=cpu").splitlines() if "-m pip" in line]
    assert len(cpu) == 3 and f"--index-url {wheelhouse.TORCH_CPU_INDEX} torch torchvision" in cpu[1]


def test_a_failed_download_says_what_it_needs_and_keeps_the_folder(tmp_path, monkeypatch) -> None:
    (tmp_path / "linux-x86_64").mkdir()
    kept = tmp_path / "linux-x86_64" / "numpy-2.0-cp311-cp311-manylinux_2_17_x86_64.whl"
    kept.write_bytes(b"wheel")
    monkeypatch.setattr(wheelhouse, "here", lambda: "linux-x86_64")
    monkeypatch.setattr(wheelhouse.subprocess, "run", lambda args, env=None: subprocess.CompletedProcess(args, 1))
    with pytest.raises(wheelhouse.WheelhouseError, match="needs the package index; a re-run keeps"):
        wheelhouse.build("linux-x86_64", tmp_path)
    assert kept.read_bytes() == b"wheel" and wheelhouse.size(tmp_path / "linux-x86_64") == 5


def test_another_platform_is_resolved_by_uv_then_downloaded_without_dependencies(tmp_path, monkeypatch) -> None:
    """pip judges dependency markers by the machine it runs on, so a macOS wheelhouse made on Linux
    is resolved for macOS by uv (with macOS 14, torch's floor) and pip downloads that list as is."""
    ran = []
    monkeypatch.setattr(wheelhouse, "here", lambda: "linux-x86_64")
    monkeypatch.setattr(wheelhouse.shutil, "which", lambda name: "/usr/bin/uv")
    monkeypatch.setattr(wheelhouse.subprocess, "run",
                        lambda args, env=None: ran.append((args, env)) or subprocess.CompletedProcess(args, 0))
    folder = wheelhouse.build("macos-arm64", tmp_path)
    (uv, uv_env), (pip, _) = ran
    assert uv[:3] == ["uv", "pip", "compile"] and uv[uv.index("--python-platform") + 1] == "aarch64-apple-darwin"
    assert uv_env["MACOSX_DEPLOYMENT_TARGET"] == "14.0"
    assert pip[pip.index("-r") + 1] == str(folder / "requirements.txt") and "--no-deps" in pip
    assert "torch>=2.1" in (folder / "requirements.in").read_text().splitlines()
    ran.clear()
    wheelhouse.build("linux-x86_64-cpu", tmp_path)  # the same platform: pip resolves
    assert [args[0] for args, _ in ran] != ["uv"] and all("pip" in args for args, _ in ran)
    monkeypatch.setattr(wheelhouse.shutil, "which", lambda name: None)
    with pytest.raises(wheelhouse.WheelhouseError, match="pip install uv"):
        wheelhouse.build("windows-x86_64", tmp_path)

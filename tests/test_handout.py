"""Handing out finished run folders: pack, unpack, the checks on a zip, and users' files kept."""
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

from svl_lib.course import handout
from svl_lib.config import ExperimentConfig
from svl_lib.experiments.experiment import run_or_load
from svl_lib.experiments.registries import resolve
from svl_lib.experiments.run_folders import run_status, write_config

METRICS = {"eval": {"clean": {"i2t_r1": 10.0, "rsum": 120.5}, "shortcut": {"i2t_r1": 90.0, "rsum": 500.0}},
           "steps": 3}


def fake_run(folder: Path, seed: int = 0, finished: bool = True) -> ExperimentConfig:
    """A run folder written by hand, as a finished (or unfinished) run leaves it; no training."""
    config = resolve(ExperimentConfig(n_train=20, n_test=10, epochs=1, batch_size=8, seed=seed))
    write_config(folder, config)
    (folder / "history.jsonl").write_text('{"step": 0, "loss": 2.0}\n')
    if finished:
        (folder / "model.pt").write_bytes(os.urandom(2048))
        (folder / "metrics.json").write_text(json.dumps(METRICS))
    else:
        (folder / "train_state.pt").write_bytes(b"state")
    return config


@pytest.fixture
def runs(tmp_path: Path) -> Path:
    root = tmp_path / "runs"
    fake_run(root / "01_toy_shortcuts" / "baseline-aaaa")
    fake_run(root / "01_toy_shortcuts" / "unique-bbbb", seed=1)
    fake_run(root / "02_shortcut_strength" / "bits-cccc", seed=2)
    fake_run(root / "02_shortcut_strength" / "cut_off-dddd", seed=3, finished=False)
    (root / "notes").mkdir()
    (root / "notes" / "todo.txt").write_text("mine")
    return root


def files_under(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


def rezip(source: Path, target: Path, drop: str = "", change: str = "", extra: dict | None = None,
          keep_manifest: bool = False) -> None:
    """A copy of a handout zip with one member dropped, changed or added; the manifest follows
    the change (so only the check under test can fail) unless ``keep_manifest``."""
    with zipfile.ZipFile(source) as archive:
        members = {n: archive.read(n) for n in archive.namelist()}
    manifest = json.loads(members.pop(handout.MANIFEST))
    members.pop(drop, None)
    if change:
        members[change] = members[change][::-1]
    members.update(extra or {})
    if not keep_manifest:
        manifest["files"] = {n: {"size": len(d), "sha256": hashlib.sha256(d).hexdigest()}
                             for n, d in members.items()}
        manifest["folders"] = sorted({n.rsplit("/", 1)[0] for n in members})
    with zipfile.ZipFile(target, "w") as archive:
        archive.writestr(handout.MANIFEST, json.dumps(manifest))
        for name, data in members.items():
            archive.writestr(name, data)


def test_pack_then_unpack_gives_identical_finished_runs(runs: Path, tmp_path: Path) -> None:
    manifest = handout.pack(tmp_path / "all.zip", runs)
    assert manifest["folders"] == ["01_toy_shortcuts/baseline-aaaa", "01_toy_shortcuts/unique-bbbb",
                                   "02_shortcut_strength/bits-cccc"]
    assert manifest["skipped"] == ["02_shortcut_strength/cut_off-dddd"]  # unfinished: not packed
    assert set(manifest["files"]["01_toy_shortcuts/baseline-aaaa/model.pt"]) == {"size", "sha256"}
    with zipfile.ZipFile(tmp_path / "all.zip") as archive:
        names = archive.namelist()
    assert not any("cut_off" in n or "train_state" in n or "notes" in n for n in names)
    assert all(not n.startswith("/") for n in names)

    into = tmp_path / "student"
    done = handout.unpack(tmp_path / "all.zip", into)
    assert set(done.values()) == {"written"}
    packed = {k: v for k, v in files_under(runs).items()
              if not k.startswith(("notes", "02_shortcut_strength/cut"))}
    assert files_under(into) == packed
    assert handout.unpack(tmp_path / "all.zip", into) == {f: "already there" for f in done}
    assert files_under(into) == packed


def test_unpacked_runs_load_instead_of_training(runs: Path, tmp_path: Path) -> None:
    config = fake_run(runs / "01_toy_shortcuts" / "baseline-aaaa")
    handout.pack(tmp_path / "h.zip", runs, ["01_toy_shortcuts"])
    into = tmp_path / "student"
    assert handout.main(["unpack", str(tmp_path / "h.zip"), "--into", str(into)]) == 0
    assert sorted(p.name for p in (into / "01_toy_shortcuts").iterdir()) == ["baseline-aaaa", "unique-bbbb"]
    folder = into / "01_toy_shortcuts" / "baseline-aaaa"
    assert run_status(folder) == "finished"
    assert run_or_load(config, folder) == METRICS  # the fake metrics: loaded, nothing trained


@pytest.mark.parametrize("problem, message", [
    ({"extra": {"../evil/config.json": b"{}"}}, r"unsafe path '\.\./evil'"),
    ({"extra": {"../evil/config.json": b"{}"}, "keep_manifest": True},
     r"unsafe path '\.\./evil/config.json'"),
    ({"extra": {"/etc/x/config.json": b"{}"}}, "unsafe path"),
    ({"drop": "01_toy_shortcuts/unique-bbbb/metrics.json"}, "unique-bbbb in the zip has no metrics.json"),
    ({"change": "01_toy_shortcuts/baseline-aaaa/model.pt", "keep_manifest": True}, "sha256"),
    ({"extra": {"01_toy_shortcuts/baseline-aaaa/run.sh": b"rm -rf ~"}}, "not a run-folder file"),
    ({"extra": {"other/metrics.json": b"{}"}, "keep_manifest": True}, "not a run-folder file"),
    ({"extra": {"01_toy_shortcuts/baseline-aaaa/validation.jsonl": b"{}\n"}, "keep_manifest": True},
     "not in the manifest"),
    ({"change": "01_toy_shortcuts/baseline-aaaa/config.json"}, "cannot be read"),
])
def test_unpack_refuses_a_bad_zip_and_writes_nothing(runs: Path, tmp_path: Path, problem: dict,
                                                     message: str) -> None:
    handout.pack(tmp_path / "good.zip", runs, ["01_toy_shortcuts"])
    rezip(tmp_path / "good.zip", tmp_path / "bad.zip", **problem)
    with pytest.raises(ValueError, match=message):
        handout.unpack(tmp_path / "bad.zip", tmp_path / "student")
    assert not (tmp_path / "student").exists()
    assert not (tmp_path / "evil").exists()


def test_unpack_refuses_other_schemas_and_zips_not_made_by_pack(runs: Path, tmp_path: Path) -> None:
    handout.pack(tmp_path / "good.zip", runs, ["02_shortcut_strength"])
    config = "02_shortcut_strength/bits-cccc/config.json"
    with zipfile.ZipFile(tmp_path / "good.zip") as archive:
        old = json.loads(archive.read(config))
    rezip(tmp_path / "good.zip", tmp_path / "old.zip",
          extra={config: json.dumps({**old, "schema": 1}).encode()})
    with pytest.raises(ValueError, match="not a run config of schema"):
        handout.unpack(tmp_path / "old.zip", tmp_path / "student")
    with zipfile.ZipFile(tmp_path / "plain.zip", "w") as archive:
        archive.writestr("a/config.json", "{}")
    with pytest.raises(ValueError, match="has no svl_runs_manifest.json"):
        handout.unpack(tmp_path / "plain.zip", tmp_path / "student")
    (tmp_path / "not.zip").write_text("hello")
    with pytest.raises(ValueError, match="cannot be read as a zip"):
        handout.unpack(tmp_path / "not.zip", tmp_path / "student")
    assert not (tmp_path / "student").exists()


def test_unpack_never_overwrites_a_different_existing_file(runs: Path, tmp_path: Path, capsys) -> None:
    handout.pack(tmp_path / "h.zip", runs, ["01_toy_shortcuts"])
    into = tmp_path / "student"
    mine = into / "01_toy_shortcuts" / "baseline-aaaa"
    mine.mkdir(parents=True)
    (mine / "history.jsonl").write_text("my own history\n")
    (mine / "notes.txt").write_text("mine")
    partial = into / "01_toy_shortcuts" / "unique-bbbb"  # an identical file is fine: the rest is added
    partial.mkdir()
    (partial / "config.json").write_bytes(
        (runs / "01_toy_shortcuts" / "unique-bbbb" / "config.json").read_bytes())
    assert handout.main(["unpack", str(tmp_path / "h.zip"), "--into", str(into)]) == 1
    assert "different history.jsonl" in capsys.readouterr().err
    assert files_under(mine) == {"history.jsonl": b"my own history\n", "notes.txt": b"mine"}
    assert files_under(partial) == files_under(runs / "01_toy_shortcuts" / "unique-bbbb")
    assert not list(into.rglob("*.tmp"))


def test_pack_never_overwrites_and_names_what_is_missing(runs: Path, tmp_path: Path) -> None:
    (tmp_path / "taken.zip").write_text("a user's file")
    with pytest.raises(FileExistsError, match="already exists"):
        handout.pack(tmp_path / "taken.zip", runs)
    assert (tmp_path / "taken.zip").read_text() == "a user's file"
    with pytest.raises(FileNotFoundError, match="'09_missing' is not a folder under the runs root"):
        handout.pack(tmp_path / "x.zip", runs, ["09_missing"])
    with pytest.raises(FileNotFoundError, match="not a folder under the runs root"):
        handout.pack(tmp_path / "x.zip", runs, ["../.."])
    with pytest.raises(ValueError, match="no finished run folders"):
        handout.pack(tmp_path / "x.zip", runs, ["notes"])
    assert not (tmp_path / "x.zip").exists()


def test_the_runs_module_command_packs_from_svl_runs_dir(runs: Path, tmp_path: Path) -> None:
    env = {**os.environ, "SVL_RUNS_DIR": str(runs)}
    result = subprocess.run([sys.executable, "-m", "svl_lib.course.handout", "pack", str(tmp_path / "h.zip"),
                             "02_shortcut_strength"], env=env, capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    assert "left out (not finished): 02_shortcut_strength/cut_off-dddd" in result.stdout
    assert "packed 1 finished run folders" in result.stdout
    with zipfile.ZipFile(tmp_path / "h.zip") as archive:
        names = archive.namelist()
    assert sorted(names) == sorted([handout.MANIFEST] + [
        f"02_shortcut_strength/bits-cccc/{n}"
        for n in ("config.json", "history.jsonl", "model.pt", "metrics.json")])

import json

import nbformat
import pytest
from nbformat.v4 import new_code_cell, new_notebook

from svl_lib.experiments.experiment import run_experiment
from svl_lib.experiments.run_folders import run_status, write_config
from svl_lib.experiments.plan import grid_points, plan_sweep, point_name
from svl_lib.experiments.sweep import main, run_sweep, sweep_notebook
from svl_lib.train.objectives import Objective

from tiny import STEPS_PER_EPOCH, tiny_config

TINY = tiny_config(epochs=2, shortcut_mode="unique", probes=False)


def test_grid_points_and_names_are_deterministic() -> None:
    points = grid_points({"shortcut_mode": ["bits"], "n_bits": [0, 4]})
    assert points == [{"shortcut_mode": "bits", "n_bits": 0}, {"shortcut_mode": "bits", "n_bits": 4}]
    assert point_name(points[1]) == "shortcut_mode=bits,n_bits=4"
    assert point_name({}) == "base"
    assert point_name({"temperature": 0.1, "probes": False}) == "temperature=0.1,probes=False"
    with pytest.raises(ValueError, match="safe folder name"):
        point_name({"name": "a/b"})
    with pytest.raises(ValueError, match="no values"):
        grid_points({"seed": []})


def test_unknown_key_fails_before_anything_runs(tmp_path) -> None:
    with pytest.raises(ValueError, match=r"grid: unknown config key\(s\): 'n_bit' \(did you mean 'n_bits'\?\)"):
        run_sweep(TINY, {"seed": [0], "n_bit": [1, 2]}, tmp_path / "sweep")
    assert not (tmp_path / "sweep").exists()


def test_impossible_value_fails_before_anything_runs(tmp_path) -> None:
    base = TINY.replace(shortcut_mode="bits", n_digits=4)
    with pytest.raises(ValueError, match="grid point n_bits=14: .*n_bits=14"):
        run_sweep(base, {"n_bits": [1, 14]}, tmp_path / "sweep")  # 2**14 - 1 needs 5 digits
    assert not (tmp_path / "sweep").exists()  # n_bits=1 did not run either
    with pytest.raises(ValueError, match="grid point shortcut_p=2: shortcut_p must be in"):
        plan_sweep(TINY, {"shortcut_p": [0.5, 2]}, tmp_path / "sweep")


def test_a_folder_with_another_config_is_refused_before_running(tmp_path) -> None:
    folder = tmp_path / "sweep" / "seed=1"
    folder.mkdir(parents=True)
    write_config(folder, TINY.replace(seed=1, lr=0.1))
    with pytest.raises(FileExistsError, match="different config"):
        run_sweep(TINY, {"seed": [0, 1]}, tmp_path / "sweep")
    assert not (tmp_path / "sweep" / "seed=0").exists()


class _CutOff(Exception):
    pass


@pytest.mark.slow
def test_sweep_skips_finished_resumes_cut_off_and_reruns_corrupt(tmp_path, monkeypatch) -> None:
    root, grid = tmp_path / "sweep", {"seed": [0, 1]}
    calls = {"n": 0}
    original = Objective.after_step

    def cut_off_in_second_run(self) -> None:
        calls["n"] += 1
        if calls["n"] == 3 * STEPS_PER_EPOCH + 7:  # 2 epochs per run: run 2, epoch 2
            raise _CutOff
        original(self)

    monkeypatch.setattr(Objective, "after_step", cut_off_in_second_run)
    with pytest.raises(_CutOff):
        run_sweep(TINY, grid, root, log=None)
    monkeypatch.setattr(Objective, "after_step", original)
    assert run_status(root / "seed=0") == "finished"
    assert run_status(root / "seed=1") == "unfinished"
    stamps = {p.name: p.stat().st_mtime_ns for p in (root / "seed=0").iterdir()}

    lines = []
    table = run_sweep(TINY, grid, root, log=lines.append)
    assert lines == ["[1/2] seed=0: skip (finished)", "[2/2] seed=1: resume"]
    assert {p.name: p.stat().st_mtime_ns for p in (root / "seed=0").iterdir()} == stamps
    resumed = json.loads((root / "seed=1" / "metrics.json").read_text())
    assert resumed["resumed_from_step"] == STEPS_PER_EPOCH  # the end of epoch 1
    assert len(table) == 2 * 4 and set(table["run"]) == {"seed=0", "seed=1"}
    assert resumed["eval"]["clean"]["rsum"] == pytest.approx(
        table.query("run == 'seed=1' and condition == 'clean'")["rsum"].item())
    straight = run_experiment(TINY.replace(seed=1), tmp_path / "straight")
    assert resumed["eval"] == straight["eval"]  # the resumed run equals an uninterrupted one

    (root / "seed=0" / "metrics.json").write_text('{"eval": ')  # half-written
    lines.clear()
    table = run_sweep(TINY, grid, root, log=lines.append)
    assert lines == ["[1/2] seed=0: resume", "[2/2] seed=1: skip (finished)"]
    assert run_status(root / "seed=0") == "finished" and len(table) == 8


def test_cli_names_the_bad_key(tmp_path, capsys) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--out", str(tmp_path / "s"), "--grid", "n_bit=1,2"])
    assert exit_info.value.code == 2
    assert "'n_bit'" in capsys.readouterr().err
    assert not (tmp_path / "s").exists()


def _tiny_notebook(path) -> None:
    parameters = new_code_cell("X = 1\nWORD = 'a'", metadata={"tags": ["parameters"]})
    body = new_code_cell("from svl_lib.paths import runs_dir\n"
                         "runs_dir().mkdir(parents=True, exist_ok=True)\n"
                         "(runs_dir() / f'{WORD}{X}.txt').write_text(str(X * 10))")
    nb = new_notebook(cells=[parameters, body])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.notebook
def test_notebook_sweep_runs_each_point_once(tmp_path) -> None:
    book = tmp_path / "tiny.ipynb"
    _tiny_notebook(book)
    root = tmp_path / "sweep"
    with pytest.raises(ValueError, match=r"unknown notebook parameter\(s\) \['Y'\]"):
        sweep_notebook(book, {"Y": [1]}, root, log=None)
    assert not root.exists()

    done = sweep_notebook(book, {"X": [2, 3]}, root, parameters={"WORD": "b"}, log=None)
    assert [p.relative_to(root).as_posix() for p in done] == ["X=2/tiny.ipynb", "X=3/tiny.ipynb"]
    assert (root / "X=3" / "runs" / "b3.txt").read_text() == "30"  # its own SVL_RUNS_DIR
    executed = nbformat.read(done[0], as_version=4)
    assert executed.metadata["papermill"]["parameters"] == {"X": 2, "WORD": "b"}
    stamp = done[0].stat().st_mtime_ns
    lines = []
    sweep_notebook(book, {"X": [2, 3]}, root, parameters={"WORD": "b"}, log=lines.append)
    assert lines == ["[1/2] X=2: skip (executed)", "[2/2] X=3: skip (executed)"]
    assert done[0].stat().st_mtime_ns == stamp

"""Run folders never lose what a run did not write; run identity; atomic writes."""
import json
import threading

import pytest

from svl_lib.config import ExperimentConfig
from svl_lib.experiments.experiment import run_experiment, run_or_load
from svl_lib.files import write_json
from svl_lib.experiments.registries import resolve
from svl_lib.experiments.run_folders import SCHEMA, keyed_folder, plan_run_folder, read_config, run_status
from svl_lib.experiments.sweep import run_sweep

from tiny import tiny_config

CONFIG = tiny_config(probes=False)


def _old_schema_run(folder) -> dict[str, str]:
    """A finished run folder as an older svl_lib wrote it (no schema key), with a user's notes."""
    folder.mkdir(parents=True)
    files = {"config.json": json.dumps(CONFIG.to_dict()),  # no "schema": an older version
             "metrics.json": json.dumps({"eval": {"clean": {"rsum": 1.0}}}),
             "model.pt": "old weights", "notes.md": "my notes on this run"}
    for name, text in files.items():
        (folder / name).write_text(text)
    return files


def _snapshot(folder) -> dict[str, str]:
    return {p.name: p.read_text() for p in folder.iterdir()}


@pytest.mark.parametrize("call", [
    lambda config, out: run_experiment(config, out, resume=True),
    lambda config, out: run_or_load(config, out),  # notebook reuse (REUSE_RUNS = True)
    lambda config, out: run_sweep(config, {}, out.parent, log=None),  # a sweep's point "base"
])
def test_foreign_files_and_old_runs_survive_resume_reuse_and_sweeps(tmp_path, call) -> None:
    user = tmp_path / "root" / "base"
    user.mkdir(parents=True)
    (user / "thesis.tex").write_text("\\chapter{Shortcuts}")
    with pytest.raises(FileExistsError, match=r"not a run of this svl_lib version.*overwrite=True"):
        call(CONFIG, user)
    assert _snapshot(user) == {"thesis.tex": "\\chapter{Shortcuts}"}

    old = tmp_path / "old" / "base"
    files = _old_schema_run(old)
    assert run_status(old) == "foreign"
    with pytest.raises(FileExistsError, match=str(old)):
        call(CONFIG, old)
    assert _snapshot(old) == files


@pytest.mark.slow
def test_overwrite_replaces_only_the_runs_own_files(tmp_path) -> None:
    old = tmp_path / "run"
    _old_schema_run(old)
    (old / "thesis.tex").write_text("keep me")
    metrics = run_or_load(CONFIG, old, reuse=False)
    assert (old / "notes.md").read_text() == "my notes on this run"
    assert (old / "thesis.tex").read_text() == "keep me"
    assert run_status(old) == "finished" and "clean" in metrics["eval"]
    assert json.loads((old / "config.json").read_text())["schema"] == SCHEMA


@pytest.mark.slow
def test_a_different_config_is_refused_and_nothing_is_touched(tiny_runs, tmp_path) -> None:
    out = tiny_runs().copy_to(tmp_path / "run")
    before = {p.name: p.stat().st_mtime_ns for p in out.iterdir()}
    with pytest.raises(FileExistsError, match="differs in seed"):
        run_or_load(CONFIG.replace(seed=1), out)
    assert {p.name: p.stat().st_mtime_ns for p in out.iterdir()} == before


@pytest.mark.slow
def test_fields_that_do_not_change_training_never_retrain(tmp_path) -> None:
    out = tmp_path / "run"
    first = run_or_load(CONFIG.replace(eval_conditions=("clean",)), out)
    model_stamp = (out / "model.pt").stat().st_mtime_ns
    # a new name or device: the same run, loaded as it is
    assert run_or_load(CONFIG.replace(name="renamed", device="cpu", eval_conditions=("clean",)),
                       out) == first
    # more conditions and the probes: evaluated again from model.pt, not retrained
    more = run_or_load(CONFIG.replace(probes=True), out)
    assert (out / "model.pt").stat().st_mtime_ns == model_stamp
    assert set(more["eval"]) == {"clean", "shortcut", "image_only", "caption_only"}
    assert more["eval"]["clean"] == first["eval"]["clean"] and "probes" in more
    assert more["steps"] == first["steps"] and more["train_seconds"] == first["train_seconds"]
    assert read_config(out).probes is True
    assert plan_run_folder(out, CONFIG.replace(probes=True), resume=True) == "load"
    assert CONFIG.identity() == CONFIG.replace(name="x", device="cpu", probes=False,
                                               eval_split="val").identity()
    assert CONFIG.identity() != CONFIG.replace(lr=1e-3).identity()


def test_atomic_writes_use_unique_temp_files_and_leave_none(tmp_path) -> None:
    target = tmp_path / "metrics.json"
    errors = []

    def write(n: int) -> None:
        try:
            for k in range(20):
                write_json(target, {"writer": n, "k": k, "pad": "x" * 10_000})
        except Exception as error:  # a shared temp name makes a rename fail or a file mixed
            errors.append(error)

    threads = [threading.Thread(target=write, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert json.loads(target.read_text())["k"] == 19
    assert [p.name for p in tmp_path.iterdir()] == ["metrics.json"]


def test_keyed_folders_follow_the_training_fields_only(tmp_path) -> None:
    key = CONFIG.key()
    assert len(key) == 8 and key == tiny_config(probes=False).key()  # stable across instances
    assert CONFIG.replace(name="x", probes=True, eval_conditions=("clean",)).key() == key
    assert CONFIG.replace(seed=1).key() != key and CONFIG.replace(temperature=0.5).key() != key
    assert keyed_folder(tmp_path, "baseline", CONFIG) == tmp_path / f"baseline-{key}"
    assert keyed_folder(tmp_path, "a + b c", CONFIG).name == f"a_plus_b_c-{key}"


def test_keys_hash_only_fields_that_differ_from_their_defaults() -> None:
    """A field added later with a default must not rename existing run folders."""
    default = resolve(ExperimentConfig())
    assert default.replace(dataset="toy", data_root=None).key() == default.key()
    assert default.replace(lr=default.lr * 2).key() != default.key()
    assert default.replace(data_root="/elsewhere").key() != default.key()


def test_keys_of_existing_run_folders_never_change() -> None:
    """Run folders on users' disks carry these keys: a change would retrain every one of them."""
    keys = [resolve(ExperimentConfig(**fields)).key() for fields in (
        {}, {"shortcut_mode": "unique", "n_bits": 3}, {"dataset": "coco", "model": "clip", "arch": "tiny"})]
    assert keys == ["52a813b7", "d7865c58", "f874b7f4"]


def test_the_notebooks_run_keys_are_pinned() -> None:
    """The run folders committed machines already hold keep their names: notebook 01's baseline and
    shortcut model and notebook 02's bits sweep, as their parameters' defaults make them."""
    base = resolve(ExperimentConfig(seed=0, n_train=2000, n_test=500, epochs=6, batch_size=256, n_digits=4))
    shortcut = base.replace(shortcut_mode="unique", n_bits=8, shortcut_p=1.0)
    bits = ExperimentConfig(seed=0, n_train=500, n_test=200, epochs=4, batch_size=128, n_digits=4,
                            shortcut_mode="bits")
    assert [base.key(), resolve(shortcut).key(), resolve(bits).key()] == ["a67657d8", "7f4e14b0", "447fed85"]

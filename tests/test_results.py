import json
from dataclasses import asdict, fields

import pytest

from svl_lib.experiment import ExperimentConfig, run_experiment
from svl_lib.results import collect_probes, collect_runs, run_folders

TINY = dict(n_train=300, n_val=20, n_test=40, epochs=1, batch_size=64, warmup_steps=2)
METRICS = {"i2t_r1": 10.0, "i2t_r5": 20.0, "i2t_r10": 30.0, "t2i_r1": 5.0, "t2i_r5": 15.0,
           "t2i_r10": 25.0, "rsum": 105.0}


def fake_run(folder, config: ExperimentConfig, probes: list[dict] | None = None) -> None:
    """A finished run folder written by hand (the schema of run_experiment's files)."""
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps(asdict(config)))
    metrics = {"eval": {"clean": METRICS, "shortcut": {**METRICS, "rsum": 500.0}},
               "chance": {"rsum": 3.0}, "train_seconds": 1.5, "steps": 10, "final_loss": 0.5}
    if probes is not None:
        metrics["probes"] = probes
    (folder / "metrics.json").write_text(json.dumps(metrics))


def test_collect_runs_is_one_row_per_run_and_condition(tmp_path) -> None:
    fake_run(tmp_path / "a", ExperimentConfig(n_bits=4))
    fake_run(tmp_path / "sweep" / "n_bits=6", ExperimentConfig(n_bits=6))
    table = collect_runs(tmp_path)
    assert len(table) == 4
    assert set(table["run"]) == {"a", "sweep/n_bits=6"}
    assert {"run", "condition", "rsum", "chance_rsum", "train_seconds", "steps", "final_loss"} <= set(table.columns)
    assert {f.name for f in fields(ExperimentConfig)} <= set(table.columns)
    row = table.query("run == 'sweep/n_bits=6' and condition == 'shortcut'").iloc[0]
    assert row["n_bits"] == 6 and row["rsum"] == 500.0
    assert row["eval_conditions"] == "clean,shortcut,image_only,caption_only"


def test_unfinished_and_corrupt_folders_are_skipped_with_a_warning(tmp_path) -> None:
    fake_run(tmp_path / "done", ExperimentConfig())
    fake_run(tmp_path / "corrupt", ExperimentConfig())
    (tmp_path / "corrupt" / "metrics.json").write_text('{"eval": ')  # half-written
    (tmp_path / "cut").mkdir()
    (tmp_path / "cut" / "config.json").write_text(json.dumps(asdict(ExperimentConfig())))
    with pytest.warns(UserWarning, match="skipped 2 unfinished run folder"):
        found = run_folders(tmp_path)
    assert [p.name for p in found] == ["done"]
    with pytest.warns(UserWarning):
        assert set(collect_runs(tmp_path)["run"]) == {"done"}


def test_collect_probes_schema_and_gain(tmp_path) -> None:
    probes = [{"modality": "image", "target": "shape", "kind": "attribute", "accuracy": 0.9,
               "majority": 0.25, "n_train": 100, "n_test": 50}]
    fake_run(tmp_path / "with", ExperimentConfig(), probes)
    fake_run(tmp_path / "without", ExperimentConfig())
    table = collect_probes(tmp_path)
    assert len(table) == 1 and table["run"].item() == "with"
    assert table["gain"].item() == pytest.approx(0.65)
    assert {"modality", "target", "kind", "accuracy", "majority", "shortcut_mode"} <= set(table.columns)


def test_a_real_run_fills_both_tables(tmp_path) -> None:
    config = ExperimentConfig(shortcut_mode="unique", **TINY)
    run_experiment(config, tmp_path / "run")
    runs = collect_runs(tmp_path)
    assert sorted(runs["condition"]) == sorted(config.eval_conditions)
    probes = collect_probes(tmp_path)
    assert len(probes) == (7 + config.n_digits) * 3  # (attributes + digits) x modalities
    assert set(probes["kind"]) == {"attribute", "shortcut"}
    assert probes["accuracy"].between(0, 1).all() and probes["majority"].between(0, 1).all()

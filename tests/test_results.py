import json
from dataclasses import fields

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from svl_lib.config import ExperimentConfig
from svl_lib.course.plots import ltd_curves, sweep_plot
from svl_lib.experiments.registries import resolve
from svl_lib.experiments.run_folders import write_config
from svl_lib.experiments.results import PROBE_COLUMNS, collect_probes, collect_runs, mitigation_table, run_folders, run_summary, seed_table

METRICS = {"i2t_r1": 10.0, "i2t_r5": 20.0, "i2t_r10": 30.0, "t2i_r1": 5.0, "t2i_r5": 15.0,
           "t2i_r10": 25.0, "rsum": 105.0}


def fake_run(folder, config: ExperimentConfig, probes: list[dict] | None = None) -> None:
    """A finished run folder written by hand (the schema of run_experiment's files)."""
    folder.mkdir(parents=True)
    write_config(folder, config)
    metrics = {"eval": {"clean": METRICS, "shortcut": {**METRICS, "rsum": 500.0}},
               "chance": {"rsum": 3.0}, "train_seconds": 1.5, "steps": 10, "final_loss": 0.5}
    if probes is not None:
        metrics["probes"] = probes
    (folder / "metrics.json").write_text(json.dumps(metrics))


def test_collect_runs_is_one_row_per_run_and_condition(tmp_path) -> None:
    fake_run(tmp_path / "a", resolve(ExperimentConfig(n_bits=4)))
    fake_run(tmp_path / "sweep" / "n_bits=6", resolve(ExperimentConfig(n_bits=6)))
    table = collect_runs(tmp_path)
    assert len(table) == 4
    assert set(table["run"]) == {"a", "sweep/n_bits=6"}
    assert {"run", "condition", "rsum", "chance_rsum", "train_seconds", "steps", "final_loss"} <= set(table.columns)
    assert {f.name for f in fields(ExperimentConfig)} <= set(table.columns)
    row = table.query("run == 'sweep/n_bits=6' and condition == 'shortcut'").iloc[0]
    assert row["n_bits"] == 6 and row["rsum"] == 500.0
    assert row["eval_conditions"] == "clean,shortcut,image_only,caption_only"


def test_unfinished_and_corrupt_folders_are_skipped_with_a_warning(tmp_path) -> None:
    fake_run(tmp_path / "done", resolve(ExperimentConfig()))
    fake_run(tmp_path / "corrupt", resolve(ExperimentConfig()))
    (tmp_path / "corrupt" / "metrics.json").write_text('{"eval": ')  # half-written
    (tmp_path / "cut").mkdir()
    write_config(tmp_path / "cut", resolve(ExperimentConfig()))
    with pytest.warns(UserWarning, match="skipped 2 unfinished or foreign run folder"):
        found = run_folders(tmp_path)
    assert [p.name for p in found] == ["done"]
    with pytest.warns(UserWarning):
        assert set(collect_runs(tmp_path)["run"]) == {"done"}


def test_collect_probes_schema_and_gain(tmp_path) -> None:
    probes = [{"modality": "image", "target": "shape", "kind": "attribute", "accuracy": 0.9,
               "majority": 0.25, "n_train": 100, "n_test": 50}]
    fake_run(tmp_path / "with", resolve(ExperimentConfig()), probes)
    fake_run(tmp_path / "without", resolve(ExperimentConfig()))
    table = collect_probes(tmp_path)
    assert len(table) == 1 and table["run"].item() == "with"
    assert table["gain"].item() == pytest.approx(0.65)
    assert {"modality", "target", "kind", "accuracy", "majority", "shortcut_mode"} <= set(table.columns)


@pytest.mark.slow
def test_a_real_run_fills_both_tables(tiny_runs, tmp_path) -> None:
    run = tiny_runs(shortcut_mode="unique")
    run.copy_to(tmp_path / "run")
    config = run.config
    runs = collect_runs(tmp_path)
    assert sorted(runs["condition"]) == sorted(config.eval_conditions)
    probes = collect_probes(tmp_path)
    assert len(probes) == (7 + config.n_digits) * 3  # (attributes + digits) x modalities
    assert set(probes["kind"]) == {"attribute", "shortcut"}
    assert probes["accuracy"].between(0, 1).all() and probes["majority"].between(0, 1).all()


def summary_metrics(clean: float, shortcut: float | None = None,
                    image_acc: float | None = None) -> dict:
    """A ``metrics.json`` dict with the fields run_summary reads."""
    metrics = {"eval": {"clean": {"rsum": clean}}}
    if shortcut is not None:
        metrics["eval"]["shortcut"] = {"rsum": shortcut}
    if image_acc is not None:
        metrics["probes"] = [
            {"modality": "image", "target": "shape", "kind": "attribute", "accuracy": image_acc},
            {"modality": "image", "target": "colour", "kind": "attribute", "accuracy": 1.0},
            {"modality": "image", "target": "digit_0", "kind": "shortcut", "accuracy": 0.0},
            {"modality": "caption_naming", "target": "shape", "kind": "attribute", "accuracy": 0.5},
        ]
    return metrics


def test_run_summary_averages_attribute_probes_only() -> None:
    assert run_summary(summary_metrics(100.0)) == {"clean RSUM": 100.0}
    row = run_summary(summary_metrics(100.0, 400.0, image_acc=0.5))
    assert row["shortcut RSUM"] == 400.0
    assert row["probe image"] == pytest.approx(75.0)  # (50 + 100) / 2; the digit probe is left out
    assert row["probe caption"] == pytest.approx(50.0)
    assert set(PROBE_COLUMNS) == {"probe image", "probe caption"}


def test_mitigation_table_is_mean_and_sample_std_over_seeds() -> None:
    runs = {"baseline": [summary_metrics(100.0, 500.0), summary_metrics(110.0, 520.0),
                         summary_metrics(120.0, 540.0)],
            "ltd": [summary_metrics(300.0, 200.0)]}
    long = seed_table(runs)
    assert list(long["setting"]) == ["baseline"] * 3 + ["ltd"]
    assert list(long["seed"]) == [0, 1, 2, 0]
    table = mitigation_table(runs)
    assert list(table.index) == ["baseline", "ltd"]  # the dict's order, not sorted
    assert list(table["seeds"]) == [3, 1]
    assert table.loc["baseline", "clean RSUM"] == "110.0 ± 10.0"  # ddof=1: std of 100, 110, 120
    assert table.loc["baseline", "shortcut RSUM"] == "520.0 ± 20.0"
    assert table.loc["ltd", "clean RSUM"] == "300.0 ± —"  # one seed: no std
    assert mitigation_table(runs, decimals=2).loc["baseline", "clean RSUM"] == "110.00 ± 10.00"


def test_sweep_plot_and_ltd_curves_draw_their_panels() -> None:
    series = {"ifm": [summary_metrics(100.0, 450.0, image_acc=0.5),
                      summary_metrics(150.0, 400.0, image_acc=0.7)]}
    fig = sweep_plot([0.1, 0.2], series, "ε", reference={"baseline": summary_metrics(120.0)},
                     logx=True)
    assert len(fig.axes) == 2
    assert list(fig.axes[0].lines[0].get_ydata()) == [100.0, 150.0]  # clean RSUM
    assert list(fig.axes[0].lines[1].get_ydata()) == [450.0, 400.0]  # RSUM with the shortcut
    assert len(fig.axes[0].lines) == 3  # clean, with shortcut, the reference line
    assert list(fig.axes[0].get_xticks()) == [0.1, 0.2] and fig.axes[1].get_ylim() == (0, 100)
    no_probes = {"a": [summary_metrics(1.0), summary_metrics(2.0)]}
    assert len(sweep_plot([1, 2], no_probes, "x").axes) == 1
    plt.close("all")
    histories = {"ltd": pd.DataFrame({"step": [0, 1, 2], "rec": [0.9, 0.7, 0.5]}),
                 "ltd constrained": pd.DataFrame({"step": [0, 1, 2], "rec": [0.9, 0.6, 0.3],
                                                  "lambda": [1.0, 1.2, 1.1]})}
    fig = ltd_curves(histories, bound={"ltd constrained": 0.4}, window=2)
    assert list(fig.axes[0].lines[0].get_ydata()) == pytest.approx([0.9, 0.8, 0.6])
    assert len(fig.axes[1].lines) == 1  # lambda of the constrained run only
    plt.close("all")


def test_paper_results_rsum_is_the_sum_of_the_six_recalls() -> None:
    from svl_lib.experiments.results import RECALLS, paper_results
    table = paper_results()
    assert set(table["dataset"]) == {"coco", "flickr30k"} and table["source"].str.len().gt(0).all()
    full = table.dropna(subset=list(RECALLS))  # the bits sweeps give RSUM only, bar two examples
    assert len(full) == 24
    sums = full[list(RECALLS)].sum(axis=1)
    assert ((sums - full["rsum"]).abs() <= 0.3).all(), full[(sums - full["rsum"]).abs() > 0.3]
    assert full[list(RECALLS)].le(100).all().all() and table["rsum"].between(0, 600).all()
    bits = table[table["train_condition"].str.startswith("bits")]
    assert len(bits) == 8 * 14  # 2 models x 2 datasets x with/without, n_bits = 0..13
    assert bits.groupby(["model", "dataset", "eval_condition"]).size().eq(14).all()

"""The library calls the notebooks make instead of copies of code: notebook_runs (run folders
named after their config, train-or-load), keyed_sweep (the same for a grid) and
ltd.cached_targets (targets kept between runs)."""
import pytest
import torch

from svl_lib import ltd
from svl_lib.config import ExperimentConfig
from svl_lib.course.notebook import keyed_sweep, notebook_runs
from svl_lib.experiments.registries import resolve
from svl_lib.experiments.run_folders import keyed_folder


@pytest.mark.slow
def test_notebook_runs_name_folders_by_config_and_reuse_finished_runs(tmp_path) -> None:
    run_folder, train_or_load = notebook_runs(tmp_path, reuse=True)
    config = ExperimentConfig(n_train=40, n_val=4, n_test=8, epochs=1, batch_size=20, probes=False,
                              eval_conditions=("clean",))
    assert run_folder("InfoNCE + unique shortcut", config) == keyed_folder(
        tmp_path, "InfoNCE + unique shortcut", resolve(config))
    first = train_or_load(config, "baseline")
    model = run_folder("baseline", config) / "model.pt"
    stamp = model.stat().st_mtime_ns
    assert train_or_load(config, "baseline") == first and model.stat().st_mtime_ns == stamp  # loaded
    _, retrain = notebook_runs(tmp_path, reuse=False)
    retrain(config, "baseline")
    assert model.stat().st_mtime_ns != stamp  # trained again


@pytest.mark.slow
def test_keyed_sweep_returns_the_tables_of_its_own_grid(tmp_path) -> None:
    base = ExperimentConfig(n_train=40, n_val=4, n_test=8, epochs=1, batch_size=20,
                            eval_conditions=("clean",), shortcut_mode="unique")
    runs, probes = keyed_sweep(tmp_path, "p", base, {"shortcut_p": [0.5, 1.0]})
    folder = keyed_folder(tmp_path, "p", resolve(base))
    assert sorted(runs["run"].unique()) == ["shortcut_p=0.5", "shortcut_p=1.0"]
    assert all((folder / run / "metrics.json").is_file() for run in runs["run"])
    assert set(probes["run"]) == set(runs["run"]) and {"image", "caption"} <= set(probes["modality"])
    again, _ = keyed_sweep(tmp_path, "p", base, {"shortcut_p": [1.0]})  # loaded, only its point
    assert list(again["run"].unique()) == ["shortcut_p=1.0"]
    assert again["rsum"].tolist() == runs[runs["run"] == "shortcut_p=1.0"]["rsum"].tolist()


def test_cached_targets_encode_each_string_once_across_runs(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SVL_RUNS_DIR", str(tmp_path))
    calls = []

    def fake_encoder(name: str, device: str = "cpu"):
        def encode(texts: list[str]) -> torch.Tensor:
            calls.append(list(texts))
            return torch.stack([torch.full((4,), float(len(t))) for t in texts])
        return encode

    monkeypatch.setattr(ltd, "load_sentence_encoder", fake_encoder)
    cache, encoded = ltd.cached_targets("fake-encoder", ["a red circle", "a blue square"])
    assert encoded == 2 and ltd.target_cache_path("fake-encoder").is_file()
    again, encoded = ltd.cached_targets("fake-encoder", ["a red circle", "a green star"])
    assert encoded == 1 and calls[-1] == ["a green star"]  # the other target came from the file
    assert torch.equal(again.lookup(["a red circle"]), cache.lookup(["a red circle"]))
    _, encoded = ltd.cached_targets("fake-encoder", ["a red circle"], use_file=False)
    assert encoded == 1  # without the file, encoded afresh

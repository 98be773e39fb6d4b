"""Execute the course notebooks with their default parameters (papermill).

nbval then re-runs them from the committed copies (``pytest --nbval-lax notebooks``, part of
``make test``) and compares the cells marked ``# NBVAL_CHECK_OUTPUT``; with train-or-load it reuses
the run folders trained here, under the same ``$SVL_RUNS_DIR``.
"""
import json
from pathlib import Path

import papermill
import pytest

from svl_lib.paths import runs_dir

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"


def execute(name: str, tmp_path: Path, **parameters) -> dict:
    out = tmp_path / name
    papermill.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=parameters,
                               kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    return json.loads(out.read_text())


@pytest.mark.notebook
def test_notebook_01_shows_the_shortcut_effect(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    execute("01_toy_shortcuts.ipynb", tmp_path)
    runs = runs_dir() / "01_toy_shortcuts" / "default"
    base = json.loads((runs / "baseline" / "metrics.json").read_text())["eval"]
    short = json.loads((runs / "unique_shortcut" / "metrics.json").read_text())["eval"]
    # measured (committed run): shortcut model 536.9 with the shortcut, 11.8 clean; baseline 228.8
    assert short["shortcut"]["rsum"] >= 480
    assert base["clean"]["rsum"] >= 200
    assert short["clean"]["rsum"] <= 0.1 * base["clean"]["rsum"]
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"01_two_by_two.png", "01_shortcut_examples.png"} <= figures


@pytest.mark.notebook
def test_notebook_02_measures_shortcut_strength(tmp_path, monkeypatch) -> None:
    """Headline facts of notebook 02, read from its run folders (seeded; margins from the
    committed run: the shortcut RSUM rises and the clean RSUM falls with n_bits and with p)."""
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    execute("02_shortcut_strength.ipynb", tmp_path)
    runs = runs_dir() / "02_shortcut_strength" / "default"

    def metrics(folder: str) -> dict:
        return json.loads((runs / folder / "metrics.json").read_text())

    def image_probe(m: dict, target: str) -> dict:
        return next(p for p in m["probes"] if p["modality"] == "image" and p["target"] == target)

    bits0, bits13 = metrics("bits/n_bits=0")["eval"], metrics("bits/n_bits=13")["eval"]
    assert bits13["clean"]["rsum"] < bits0["clean"]["rsum"]
    assert bits13["shortcut"]["rsum"] > bits0["shortcut"]["rsum"] + 100
    base, unique = metrics("baseline/base"), metrics("p/shortcut_p=1.0")
    assert unique["eval"]["clean"]["rsum"] < 0.5 * base["eval"]["clean"]["rsum"]
    assert image_probe(unique, "digit_3")["accuracy"] > 0.7  # measured 0.79 (unseen handwriting)
    assert image_probe(base, "digit_3")["accuracy"] < 0.4  # measured 0.24 (no leak between splits)
    for attribute in ("shape", "colour", "size", "position", "background", "texture", "lighting"):
        probe = image_probe(base, attribute)
        assert probe["accuracy"] > probe["majority"] + 0.05, attribute
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"02_bits_curve.png", "02_p_curve.png", "02_probe_bars_image.png", "02_temperature.png"} <= figures


def _seed_runs(folder) -> list[dict]:
    return [json.loads((p / "metrics.json").read_text()) for p in sorted(folder.glob("seed*"))]


def _mean_clean_rsum(runs: list[dict]) -> float:
    return sum(m["eval"]["clean"]["rsum"] for m in runs) / len(runs)


@pytest.mark.notebook
def test_notebook_03_trains_both_losses(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    execute("03_infonce_vs_triplet.ipynb", tmp_path)
    runs = runs_dir() / "03_infonce_vs_triplet" / "default"
    assert _mean_clean_rsum(_seed_runs(runs / "InfoNCE_unique_shortcut")) < 0.5 * _mean_clean_rsum(
        _seed_runs(runs / "InfoNCE"))
    triplet = json.loads((runs / "triplet" / "seed=0" / "config.json").read_text())
    assert triplet["loss"] == "triplet" and triplet["triplet_max_violation"] is True
    # max violation from scratch collapses to the loss 2 * margin * B (every hinge = margin) ...
    for folder in ("triplet", "triplet_unique_shortcut"):
        for m in _seed_runs(runs / folder):
            assert abs(m["final_loss"] / (2 * 0.2 * 256) - 1) < 0.1
    # ... while the sum of hinges trains
    sum_hinges = _seed_runs(runs / "triplet_sum_of_hinges")
    assert _mean_clean_rsum(sum_hinges) > 3 * _mean_clean_rsum(_seed_runs(runs / "triplet"))
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"03_negative_weights.png", "03_triplet_training.png"} <= figures


@pytest.mark.notebook
def test_notebook_04_runs_constrained_ltd(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    execute("04_latent_target_decoding.ipynb", tmp_path)
    runs = runs_dir() / "04_latent_target_decoding" / "default"
    ltd = runs / "shortcut_plus_LTD" / "seed=0"
    history = [json.loads(line) for line in (ltd / "history.jsonl").read_text().splitlines()]
    assert all(0.0 <= h["lambda"] <= 100.0 for h in history)
    assert history[-1]["lambda"] > history[0]["lambda"]  # L_rec stays above eta = 0.1: lambda rises
    loose = [json.loads(line) for line in (runs / "sweep" / "eta0.4" / "history.jsonl").read_text().splitlines()]
    assert loose[-1]["lambda"] < max(h["lambda"] for h in loose)  # bound met: lambda turns down
    assert (runs_dir() / "ltd_targets" / "all-MiniLM-L6-v2.pt").is_file()
    assert _mean_clean_rsum(_seed_runs(runs / "unique_shortcut")) < 0.5 * _mean_clean_rsum(
        _seed_runs(runs / "baseline"))
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"04_ltd_curves.png", "04_eta_sweep.png", "04_multiplier_toy.png"} <= figures


@pytest.mark.notebook
def test_notebook_05_sweeps_ifm_epsilon(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    execute("05_implicit_feature_modification.ipynb", tmp_path)
    runs = runs_dir() / "05_implicit_feature_modification" / "default"
    assert len(_seed_runs(runs / "ifm_eps0.1")) == 3
    for eps in (0.05, 0.2, 0.5, 1.0):
        config = json.loads((runs / f"ifm_eps{eps}" / "seed=0" / "config.json").read_text())
        assert config["ifm_epsilon"] == eps and config["shortcut_mode"] == "unique"
    assert _mean_clean_rsum(_seed_runs(runs / "unique_shortcut")) < 0.5 * _mean_clean_rsum(
        _seed_runs(runs / "baseline"))
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert "05_epsilon_sweep.png" in figures

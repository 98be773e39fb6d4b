"""Execute the course notebooks with papermill: each with ``FAST = True`` (the smoke mode teachers
run before a workshop; ``make test``), each with its default parameters, one exercise of each, and one
twice with different parameters (run folders are keyed by the training parameters, so both runs
train and neither is refused) (``make test-all``).

papermill raises on the first failing cell, so an executed notebook ran without error; the tests
check what the run folders and figures hold. nbval then re-runs the committed copies
(``pytest --nbval-lax notebooks``, part of ``make test-all``) and compares the cells marked
``# NBVAL_CHECK_OUTPUT``; with train-or-load it reuses the run folders trained here, under the same
``$SVL_RUNS_DIR``.
"""
import json
from pathlib import Path

import papermill
import pytest

from svl_lib.paths import runs_dir

NOTEBOOKS = Path(__file__).resolve().parent.parent / "notebooks"
BOOKS = sorted(p.name for p in NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))


def execute(name: str, tmp_path: Path, **parameters) -> dict:
    out = tmp_path / name
    papermill.execute_notebook(str(NOTEBOOKS / name), str(out), parameters=parameters,
                               kernel_name="python3", cwd=str(NOTEBOOKS), progress_bar=False)
    return json.loads(out.read_text())


def folder(root: Path, name: str, n_train: int) -> Path:
    """The run folder ``<name>-<key>`` under ``root`` of the runs with ``n_train`` training images
    (the notebook's default; a FAST run of the same notebook has its own folders)."""
    for path in sorted(root.glob(f"{name}-*")):
        config = json.loads(next(path.rglob("config.json")).read_text())
        if config["n_train"] == n_train:
            return path
    raise AssertionError(f"no run folder {name}-* with n_train={n_train} under {root}")


def metrics(path: Path) -> dict:
    return json.loads((path / "metrics.json").read_text())


@pytest.mark.notebook
def test_notebook_01_shows_the_shortcut_effect(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    execute("01_toy_shortcuts.ipynb", tmp_path)
    runs = runs_dir() / "01_toy_shortcuts"
    base = metrics(folder(runs, "baseline", 2000))["eval"]
    short = metrics(folder(runs, "shortcut", 2000))["eval"]
    # measured (committed run): shortcut model 540.6 with the shortcut, 14.2 clean; baseline 224.9
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
    runs = runs_dir() / "02_shortcut_strength"

    def image_probe(m: dict, target: str) -> dict:
        return next(p for p in m["probes"] if p["modality"] == "image" and p["target"] == target)

    bits = folder(runs, "bits", 500)
    bits0, bits13 = metrics(bits / "n_bits=0")["eval"], metrics(bits / "n_bits=13")["eval"]
    assert bits13["clean"]["rsum"] < bits0["clean"]["rsum"]
    assert bits13["shortcut"]["rsum"] > bits0["shortcut"]["rsum"] + 100
    base = metrics(folder(runs, "baseline", 500) / "base")
    unique = metrics(folder(runs, "p", 500) / "shortcut_p=1.0")
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
    runs = runs_dir() / "03_infonce_vs_triplet"
    assert _mean_clean_rsum(_seed_runs(folder(runs, "InfoNCE_plus_unique_shortcut", 1000))) < (
        0.5 * _mean_clean_rsum(_seed_runs(folder(runs, "InfoNCE", 1000))))
    triplet = folder(runs, "triplet", 1000)
    config = json.loads((triplet / "seed=0" / "config.json").read_text())
    assert config["loss"] == "triplet" and config["triplet_max_violation"] is True
    # max violation from scratch collapses to the loss 2 * margin * B (every hinge = margin) ...
    for name in ("triplet", "triplet_plus_unique_shortcut"):
        for m in _seed_runs(folder(runs, name, 1000)):
            assert abs(m["final_loss"] / (2 * 0.2 * 256) - 1) < 0.1
    # ... while the sum of hinges trains
    sum_hinges = metrics(folder(runs, "triplet_sum_of_hinges", 1000))
    assert sum_hinges["eval"]["clean"]["rsum"] > 3 * _mean_clean_rsum(_seed_runs(triplet))
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"03_negative_weights.png", "03_triplet_training.png"} <= figures


def _history(path: Path) -> list[dict]:
    return [json.loads(line) for line in (path / "history.jsonl").read_text().splitlines()]


@pytest.mark.notebook
def test_notebook_04_runs_constrained_ltd(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    execute("04_latent_target_decoding.ipynb", tmp_path)
    runs = runs_dir() / "04_latent_target_decoding"
    history = _history(folder(runs, "shortcut_plus_LTD", 1000) / "seed=0")
    assert all(0.0 <= h["lambda"] <= 100.0 for h in history)
    assert history[-1]["lambda"] > history[0]["lambda"]  # L_rec stays above eta = 0.1: lambda rises
    loose = _history(folder(runs, "eta0.4", 1000))
    assert loose[-1]["lambda"] < max(h["lambda"] for h in loose)  # bound met: lambda turns down
    assert (runs_dir() / "ltd_targets" / "all-MiniLM-L6-v2.pt").is_file()
    assert _mean_clean_rsum(_seed_runs(folder(runs, "unique_shortcut", 1000))) < 0.5 * _mean_clean_rsum(
        _seed_runs(folder(runs, "baseline", 1000)))
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"04_ltd_curves.png", "04_eta_sweep.png", "04_multiplier_toy.png"} <= figures


@pytest.mark.notebook
def test_notebook_05_sweeps_ifm_epsilon(tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    execute("05_implicit_feature_modification.ipynb", tmp_path)
    runs = runs_dir() / "05_implicit_feature_modification"
    assert len(_seed_runs(folder(runs, "ifm_eps0.1", 1000))) == 3
    for eps in (0.05, 0.2, 0.5, 1.0):
        config = json.loads((folder(runs, f"ifm_eps{eps}", 1000) / "config.json").read_text())
        assert config["ifm_epsilon"] == eps and config["shortcut_mode"] == "unique"
    assert _mean_clean_rsum(_seed_runs(folder(runs, "unique_shortcut", 1000))) < 0.5 * _mean_clean_rsum(
        _seed_runs(folder(runs, "baseline", 1000)))
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert "05_epsilon_sweep.png" in figures


@pytest.mark.notebook
def test_notebook_06_runs_the_real_pipeline_on_the_stand_in(tmp_path, monkeypatch) -> None:
    """Without COCO or a GPU, notebook 06 says so first and runs the stand-in: the toy CNN + GRU on
    the 224-px toy world in COCO's layout, read through the coco dataset code, evaluated under both
    COCO protocols. The stand-in shows the collapse: the unique-shortcut model uses the shortcut and
    keeps less than half of the baseline's clean RSUM. Measured (committed run): baseline clean
    273.6; unique shortcut 29.4 clean, 147.6 with the shortcut; chance 31.6."""
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    monkeypatch.setenv("SVL_DATA_DIR", str(tmp_path / "no-data"))
    executed = execute("06_real_images.ipynb", tmp_path)
    first = next("".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", []))
    assert first.startswith("Stand-in (no coco under $SVL_DATA_DIR/coco")
    runs = runs_dir() / "06_real_images"
    results = {}
    for name in ("baseline", "unique_shortcut"):
        configs = {p: json.loads((p / "config.json").read_text()) for p in runs.glob(f"{name}-*")}
        run, = [p for p, c in configs.items()  # the default stand-in has 400 training images
                if c["data_root"].endswith("coco-400") and c["epochs"] > 1]
        config, results[name] = configs[run], metrics(run)
        assert (config["dataset"], config["model"], config["image_size"]) == ("coco", "toy", 32)
        assert set(results[name]["eval"]) == set(results[name]["eval_5fold"]) == {
            "clean", "shortcut", "image_only", "caption_only"}
    base, short = results["baseline"]["eval"], results["unique_shortcut"]["eval"]
    assert base["clean"]["rsum"] > 4 * results["baseline"]["chance"]["rsum"]
    assert short["clean"]["rsum"] < 0.5 * base["clean"]["rsum"]
    assert short["shortcut"]["rsum"] > 3 * short["clean"]["rsum"]
    assert "06_shortcut_on_photos.png" in {p.name for p in (tmp_path / "figures").iterdir()}


@pytest.mark.notebook
def test_notebook_07_sets_the_claims_beside_the_paper(tmp_path, monkeypatch) -> None:
    """By default notebook 07 reads the claims grids' committed results (no training for them),
    trains the ImageNet-tower negative example (which does not use the shortcut: RSUM with it below
    500, the precondition of a collapse) and prints every claim's verdict and reason from
    svl_lib.course.claims, exploratory and confirmatory."""
    from svl_lib.course.verdicts import VERDICTS

    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    executed = execute("07_the_paper_claim_by_claim.ipynb", tmp_path)
    texts = ["".join(o.get("text", "")) for c in executed["cells"] for o in c.get("outputs", [])]
    assert any(t.startswith("90 runs read from the committed results") for t in texts)
    runs = runs_dir() / "07_the_paper_claim_by_claim"
    effnet = {name: metrics(folder(runs, f"effnet_{name}", 500) / "seed=0") for name in ("clean", "unique")}
    assert effnet["clean"]["image_weights"] == "efficientnet-lite0-57934424.pth (247 tensors checked)"
    assert effnet["unique"]["eval"]["shortcut"]["rsum"] < 500
    cells = ["".join("".join(o.get("text", "")) for o in c.get("outputs", [])) for c in executed["cells"]]
    reasons = next(t for t in cells if t.startswith("=== exploratory"))  # both stages' verdicts
    verdicts = [line.split(": ", 1)[1].split("  ")[0] for line in reasons.splitlines()
                if line.startswith("row ")]
    assert "=== confirmatory" in reasons and len(verdicts) >= 30 and set(verdicts) <= set(VERDICTS)
    figures = {p.name for p in (tmp_path / "figures").iterdir()}
    assert {"07_bits_paper_vs_toy.png", "07_clean_rsum_kept.png"} <= figures


@pytest.mark.smoke
@pytest.mark.parametrize("name", BOOKS)
def test_every_notebook_runs_in_fast_mode(name, tmp_path, monkeypatch) -> None:
    """Every notebook runs end to end in its FAST setting and saves at least one figure."""
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    execute(name, tmp_path, FAST=True)
    assert list((tmp_path / "figures").glob(f"{name[:2]}_*.png"))


@pytest.mark.notebook
def test_a_changed_parameter_trains_new_runs_and_keeps_the_old(tmp_path, monkeypatch) -> None:
    """Exercise-style changes (another seed, a fixed temperature) each get their own run folders;
    running the notebook again with them reuses what exists."""
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    runs = runs_dir() / "01_toy_shortcuts"
    execute("01_toy_shortcuts.ipynb", tmp_path, FAST=True)
    before = {p.name: (p / "metrics.json").stat().st_mtime_ns for p in runs.glob("*-*")}
    execute("01_toy_shortcuts.ipynb", tmp_path, FAST=True, SEED=1)
    after = {p.name: (p / "metrics.json").stat().st_mtime_ns for p in runs.glob("*-*")}
    assert len(after) == len(before) + 2  # a baseline and a shortcut run for SEED = 1
    assert all(after[name] == stamp for name, stamp in before.items())  # nothing retrained


TINY = dict(N_TRAIN=300, N_TEST=50, EPOCHS=1, BATCH_SIZE=64)
EXERCISES = {  # one exercise's parameter change per notebook, in a tiny setting
    "01_toy_shortcuts.ipynb": dict(FAST=True, SHORTCUT_MODE="bits", N_BITS=2),
    "02_shortcut_strength.ipynb": dict(**TINY, N_BITS=[0, 1, 2], P_VALUES=[1.0], TEMPERATURES=[0.1]),
    "03_infonce_vs_triplet.ipynb": dict(FAST=True, TRIPLET_REDUCTION="mean"),
    "04_latent_target_decoding.ipynb": dict(FAST=True, LTD_LAMBDA_LR=5e-3),
    "05_implicit_feature_modification.ipynb": dict(FAST=True, TEMPERATURE=0.07),
    "06_real_images.ipynb": dict(FAST=True, SHORTCUT_ON_CAPTION=False),
    "07_the_paper_claim_by_claim.ipynb": dict(FAST=True, SEEDS=3),
}


@pytest.mark.notebook
@pytest.mark.parametrize("name", sorted(EXERCISES))
def test_an_exercise_of_every_notebook_runs(name, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("SVL_FIGURES_DIR", str(tmp_path / "figures"))
    execute(name, tmp_path, **EXERCISES[name])
    assert list((tmp_path / "figures").glob(f"{name[:2]}_*.png"))


def test_every_notebook_has_an_exercise_run() -> None:
    assert set(EXERCISES) == set(BOOKS)


def test_a_notebooks_tests_and_cells_are_one_work_unit() -> None:
    """``make test-all`` runs the notebooks on two workers: a notebook's tests, its exercise and its
    nbval cells go to one worker (07 with 02, whose runs it reuses); other tests go by file."""
    from conftest import work_unit

    units = {work_unit(nodeid) for nodeid in (
        "tests/test_notebooks.py::test_notebook_02_measures_shortcut_strength",
        "tests/test_notebooks.py::test_an_exercise_of_every_notebook_runs[07_the_paper_claim_by_claim.ipynb]",
        "notebooks/02_shortcut_strength.ipynb::Cell 3", "notebooks/07_the_paper_claim_by_claim.ipynb::Cell 10")}
    assert units == {"notebook 02"}
    assert work_unit("notebooks/03_infonce_vs_triplet.ipynb::Cell 0") == "notebook 03"
    assert work_unit("tests/test_site.py::test_a_notebook_page_shows_its_figures_and_tables[03_infonce_vs_triplet]") \
        == "tests/test_site.py"


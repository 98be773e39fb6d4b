"""The notebooks' exercises as runs: each exercise is a function that trains (or loads) the runs
the exercise asks for, as the notebook would with the exercise's setting, and returns the numbers
its solution quotes as ``{quantity: value}`` (text, already formatted). The runs live in the
notebook's own run folders (``$SVL_RUNS_DIR/<notebook>``, named as the notebook names them), so a
student's run of the same setting on the same machine reuses them. :data:`EXERCISES` lists them per
notebook; :mod:`svl_lib.course.answers` writes their answer files.
"""
from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from ..config import ExperimentConfig
from ..experiments.registries import resolve
from ..experiments.results import load_history, run_summary
from ..paths import runs_dir
from .notebook import STRENGTH_NOTEBOOK, keyed_sweep, notebook_runs

Metrics = dict[str, Any]
Answer = dict[str, str]


def rsum(m: Metrics, condition: str = "clean") -> float:
    return float(m["eval"][condition]["rsum"])


def probe(m: Metrics, modality: str = "image") -> float:
    """The mean attribute probe accuracy (%) of the image or caption embedding, as the notebooks'
    tables show it (:func:`svl_lib.experiments.results.run_summary`)."""
    return run_summary(m)[f"probe {modality}"]


def retrieval(m: Metrics, name: str = "") -> Answer:
    """Clean RSUM and RSUM with the shortcut of one run, one decimal."""
    prefix = f"{name}: " if name else ""
    return {f"{prefix}clean RSUM": f"{rsum(m):.1f}", f"{prefix}RSUM with the shortcut": f"{rsum(m, 'shortcut'):.1f}"}


def share(model: Metrics, base: Metrics) -> Answer:
    return {"share of the baseline's clean RSUM (%)": f"{100 * rsum(model) / rsum(base):.0f}"}


def with_and_without(mitigated: Metrics, base: Metrics, method: str) -> Answer:
    """A model without a shortcut trained with and without ``method``: clean RSUM and image probe."""
    return {f"baseline + {method}: clean RSUM": f"{rsum(mitigated):.1f}", "baseline: clean RSUM": f"{rsum(base):.1f}",
            f"baseline + {method}: image probe (%)": f"{probe(mitigated):.1f}",
            "baseline: image probe (%)": f"{probe(base):.1f}"}


def seed0(config: ExperimentConfig, folder: Path) -> Metrics:
    """Seed 0 of a notebook's ``run_seeds(config, SEEDS, folder)`` (``folder / "seed=0"``)."""
    from ..experiments.sweep import run_seeds
    return run_seeds(config, 1, folder)[0]


# Notebook 01: its parameters' defaults, and the exercise as the parameters change them.
def _toy(temperature: float | None = None, **shortcut: Any) -> tuple[Metrics, Metrics]:
    base = resolve(ExperimentConfig(seed=0, n_train=2000, n_test=500, epochs=6, batch_size=256, n_digits=4,
                                    temperature=temperature))
    _, train = notebook_runs(runs_dir() / "01_toy_shortcuts")
    model = base.replace(**{"shortcut_mode": "unique", "n_bits": 8, "shortcut_p": 1.0, "shortcut_on_caption": True,
                            **shortcut})
    return train(base, "baseline"), train(model, "shortcut")


def toy_1() -> Answer:
    base, model = _toy(shortcut_mode="bits", n_bits=2)
    return {**retrieval(model, "bits, n_bits 2"), **share(model, base)}


def toy_2() -> Answer:
    base, model = _toy(shortcut_p=0.5)
    return {**retrieval(model, "unique on half the items"), **share(model, base)}


def toy_3() -> Answer:
    base, model = _toy(temperature=0.5)
    learnable, _ = _toy()
    return {"baseline at temperature 0.5: clean RSUM": f"{rsum(base):.1f}", **retrieval(model, "shortcut model"),
            "baseline with a learnable temperature: final temperature": f"{1 / learnable['final_logit_scale']:.3f}"}


def toy_4() -> Answer:
    base, model = _toy(shortcut_on_caption=False)
    return {**retrieval(model, "the number on the image only"), **share(model, base)}


# Notebook 02.
STRENGTH = ExperimentConfig(seed=0, n_train=500, n_test=200, epochs=4, batch_size=128, n_digits=4)


def strength_1() -> Answer:
    from .notebook import bits_sweep
    runs, _ = bits_sweep(STRENGTH, list(range(14)))
    curve = runs.pivot_table(index="n_bits", columns="condition", values="rsum")
    return {"clean RSUM, n_bits 0-13": ", ".join(f"{v:.0f}" for v in curve["clean"]),
            "RSUM with the shortcut, n_bits 0-13": ", ".join(f"{v:.0f}" for v in curve["shortcut"])}


def strength_2() -> Answer:
    base = STRENGTH.replace(n_train=2000, epochs=6)
    root = runs_dir() / STRENGTH_NOTEBOOK
    answer: Answer = {}
    for name, (runs, probes) in (("baseline", keyed_sweep(root, "baseline", base, {})),
                                 ("unique shortcut", keyed_sweep(root, "p", base.replace(shortcut_mode="unique"),
                                                                 {"shortcut_p": [1.0]}))):
        image = probes[probes["modality"] == "image"].set_index("target")
        clean = runs[runs["condition"] == "clean"]["rsum"].item()
        answer[f"{name}: clean RSUM"] = f"{clean:.1f}"
        for target in ("shape", "colour"):
            answer[f"{name}: image probe, {target}"] = f"{image.loc[target, 'accuracy']:.2f}"
        answer[f"{name}: majority, shape"] = f"{image.loc['shape', 'majority']:.2f}"
    return answer


def strength_5() -> Answer:
    from ..experiments.sweep import run_sweep
    base = ExperimentConfig(shortcut_mode="unique", epochs=4, n_train=500, n_test=200, batch_size=128)
    runs = run_sweep(base, {"lr": [0.0005, 0.002, 0.005]}, runs_dir() / STRENGTH_NOTEBOOK / "exercise 5 lr", log=None)
    answer: Answer = {}
    for lr, rows in runs.groupby("lr"):
        by = rows.set_index("condition")["rsum"]
        answer[f"lr {lr:g}: clean RSUM"] = f"{by['clean']:.1f}"
        answer[f"lr {lr:g}: RSUM with the shortcut"] = f"{by['shortcut']:.1f}"
    return answer


def strength_6() -> Answer:
    long = STRENGTH.replace(epochs=8)
    _, train = notebook_runs(runs_dir() / STRENGTH_NOTEBOOK)
    caption_only = train(long.replace(shortcut_mode="unique", shortcut_on_image=False), "exercise 6 caption only")
    base = train(long, "exercise 6 baseline")
    return {"caption-only, 8 epochs: clean RSUM": f"{rsum(caption_only):.1f}", "baseline, 8 epochs: clean RSUM":
            f"{rsum(base):.1f}", "share (%)": f"{100 * rsum(caption_only) / rsum(base):.0f}"}


# Notebook 03: seed 0 of the notebook's triplet run (no shortcut) under the exercise's setting.
def _triplet(**change: Any) -> Metrics:
    base = ExperimentConfig(n_train=1000, n_test=250, epochs=4, batch_size=256, n_digits=4, triplet_margin=0.2,
                            triplet_reduction="sum")
    config = base.replace(loss="triplet", **change)
    run_folder, _ = notebook_runs(runs_dir() / "03_infonce_vs_triplet")
    return seed0(config, run_folder("triplet", config))


def _loss_answer(m: Metrics, name: str) -> Answer:
    return {f"{name}: final loss": f"{m['final_loss']:.3f}" if m["final_loss"] < 10 else f"{m['final_loss']:.1f}",
            **retrieval(m, name)}


def triplet_1() -> Answer:
    return {**_loss_answer(_triplet(triplet_reduction="mean"), "mean"), **_loss_answer(_triplet(), "sum")}


def triplet_2() -> Answer:
    return {**_loss_answer(_triplet(triplet_margin=0.5), "margin 0.5"), **_loss_answer(_triplet(), "margin 0.2")}


def triplet_4() -> Answer:
    return _loss_answer(_triplet(ifm_epsilon=0.1), "IFM eps 0.1")


# Notebook 04: seed 0 of the notebook's runs under the exercise's setting.
MITIGATION = ExperimentConfig(n_train=1000, n_test=250, epochs=4, batch_size=256, n_digits=4)
LTD = dict(ltd="constrained", ltd_bound=0.1, ltd_lambda_lr=0.05, ltd_hidden=256, ltd_target_caption="clean")


def _ltd_folder(**change: Any) -> tuple[ExperimentConfig, Path]:
    """Notebook 04's LTD config under ``change`` and its run folder (seeds below it)."""
    config = MITIGATION.replace(shortcut_mode="unique", **{**LTD, **change})
    run_folder, _ = notebook_runs(runs_dir() / "04_latent_target_decoding")
    return config, run_folder("shortcut + LTD", config)


def _ltd(**change: Any) -> Metrics:
    return seed0(*_ltd_folder(**change))


def _ltd_answer(m: Metrics, name: str) -> Answer:
    return {**retrieval(m, name), f"{name}: image probe (%)": f"{probe(m):.1f}",
            f"{name}: caption probe (%)": f"{probe(m, 'caption'):.1f}"}


def ltd_1() -> Answer:
    return {**_ltd_answer(_ltd(ltd_target_caption="as_fed"), "as-fed targets"), **_ltd_answer(_ltd(), "clean targets")}


def final_lambda(**change: Any) -> float:
    """The Lagrange multiplier at the last step of seed 0 of notebook 04's LTD run under ``change``."""
    _, folder = _ltd_folder(**change)
    return float(load_history(folder / "seed=0")["lambda"].dropna().iloc[-1])


def ltd_2() -> Answer:
    answer = {}
    for name, rate in (("multiplier rate 5e-3", 5e-3), ("multiplier rate 0.05", 0.05)):
        answer |= {**retrieval(_ltd(ltd_lambda_lr=rate), name),
                   f"{name}: final lambda": f"{final_lambda(ltd_lambda_lr=rate):.1f}"}
    return answer


def ltd_3() -> Answer:
    run_folder, _ = notebook_runs(runs_dir() / "04_latent_target_decoding")
    config = MITIGATION.replace(ltd="constrained", ltd_bound=0.1)
    ltd, base = seed0(config, run_folder("exercise 3", config)), seed0(MITIGATION, run_folder("baseline", MITIGATION))
    return {**with_and_without(ltd, base, "LTD")}


def ltd_4() -> Answer:
    return {**retrieval(_ltd(ltd_hidden=1024), "1,024 hidden units"), **retrieval(_ltd(), "256 hidden units")}


# Notebook 05.
def _ifm(name: str, config: ExperimentConfig) -> Metrics:
    run_folder, _ = notebook_runs(runs_dir() / "05_implicit_feature_modification")
    return seed0(config, run_folder(name, config))


def ifm_1() -> Answer:
    ifm, base = _ifm("exercise 1", MITIGATION.replace(ifm_epsilon=0.1)), _ifm("baseline", MITIGATION)
    return with_and_without(ifm, base, "IFM")


def ifm_2() -> Answer:
    fixed = MITIGATION.replace(temperature=0.07, shortcut_mode="unique")
    plain, ifm = _ifm("unique_shortcut", fixed), _ifm("ifm_eps0.1", fixed.replace(ifm_epsilon=0.1))
    return {**retrieval(plain, "unique shortcut"), **retrieval(ifm, "with IFM")}


def ifm_4() -> Answer:
    bits = MITIGATION.replace(shortcut_mode="bits", n_bits=2)
    plain, ifm = _ifm("exercise 4", bits), _ifm("exercise 4 IFM", bits.replace(ifm_epsilon=0.1))
    return {**retrieval(plain, "bits, n_bits 2"), **retrieval(ifm, "with IFM")}


# Notebook 07: the committed results cut or re-judged, and the ImageNet tower trained in full.
def claims_1() -> Answer:
    from . import claim_rows
    three = claim_rows.stage_tables("exploratory", seeds=3)
    return {claim: f"{v.verdict}: {v.reason}" for claim, v in claim_rows.course_verdicts(three, "exploratory").items()}


def claims_2() -> Answer:
    from . import claims
    from .claim_rows import paired, seeded, stage_tables
    from .intervals import family_level
    from ..experiments.protocols import protocols
    t = stage_tables("exploratory")["claims_scratch"]
    clean, unique, short = paired(seeded(t, variant="clean"), seeded(t, variant="unique"),
                                  seeded(t, condition="shortcut", variant="unique"))
    chance = float(t["chance_rsum"].iloc[0])
    collapse = claims.clean_collapse(clean, unique, short, chance, "full", threshold=450, paired=True,
                                     level=family_level(4))
    answer = {"collapse at threshold 450": f"{collapse.verdict}: {collapse.reason}"}
    for method in ("LTD", "IFM"):
        series = [seeded(t, variant="unique"), seeded(t, variant=f"unique + {method}"),
                  seeded(t, condition="shortcut", variant="unique"),
                  seeded(t, condition="shortcut", variant=f"unique + {method}"), seeded(t, variant="clean")]
        helps = claims.mitigation_helps(*paired(*series), chance, threshold=450, paired=True,
                                        level=family_level(protocols()["5-ltd-scratch"].family_tests()))
        answer[f"{method} helps at threshold 450"] = f"{helps.verdict}: {helps.reason}"
    return answer


def claims_3() -> Answer:
    eff = ExperimentConfig(arch="efficientnet_lite0", pretrained="imagenet", frozen_stages=0, image_size=64,
                           n_train=500, n_test=250, epochs=2, batch_size=128, n_digits=4, probes=False,
                           eval_conditions=("clean", "shortcut"))
    run_folder, _ = notebook_runs(runs_dir() / "07_the_paper_claim_by_claim")
    clean, unique = eff, eff.replace(shortcut_mode="unique")
    clean_run = seed0(clean, run_folder("effnet clean", clean))
    unique_run = seed0(unique, run_folder("effnet unique", unique))
    return {"every stage trained, no shortcut: clean RSUM": f"{rsum(clean_run):.1f}",
            **retrieval(unique_run, "unique shortcut")}


def claims_4() -> Answer:
    from . import claims
    from ..experiments.grids import load_grid
    from .notebook import bits_sweep
    runs, _ = bits_sweep(load_grid("toy_bits").base, list(range(14)))
    curve = runs.pivot_table(index="n_bits", columns="condition", values="rsum")
    verdict = claims.bits_trend(curve.index.tolist(), curve["clean"].tolist(), curve["shortcut"].tolist())
    return {"all 14 points": f"{verdict.verdict}: {verdict.reason}"}


EXERCISES: dict[str, dict[int, Callable[[], Answer]]] = {
    "01_toy_shortcuts": {1: toy_1, 2: toy_2, 3: toy_3, 4: toy_4},
    "02_shortcut_strength": {1: strength_1, 2: strength_2, 5: strength_5, 6: strength_6},
    "03_infonce_vs_triplet": {1: triplet_1, 2: triplet_2, 4: triplet_4},
    "04_latent_target_decoding": {1: ltd_1, 2: ltd_2, 3: ltd_3, 4: ltd_4},
    "05_implicit_feature_modification": {1: ifm_1, 2: ifm_2, 4: ifm_4},
    "07_the_paper_claim_by_claim": {1: claims_1, 2: claims_2, 3: claims_3, 4: claims_4},
}

"""svl_lib.course.controls and the trials' new tables on constructed results: the share kept at equal
budgets, the start against the end, the LTD length table and T7's digit gain."""
import pandas as pd
import pytest

from svl_lib.course import controls, trials

PLAIN = dict(shortcut_mode="unique", ltd="none", ifm_epsilon=0.0, shortcut_on_image=True, shortcut_on_caption=True)


def runs(rows: list[dict], **common) -> pd.DataFrame:
    """A results table: one row per (run, condition) with the config fields the library reads."""
    table = pd.DataFrame([{**PLAIN, "ltd_bound": 0.1, "ltd_target_caption": "clean", "n_train": 1000,
                           "steps": 380, "chance_rsum": 12.7, **common, **r} for r in rows])
    return table.assign(variant=table.apply(lambda r: "clean" if r["shortcut_mode"] == "none" else "unique", axis=1))


def setting(clean: list[float], unique: list[float], shortcut: list[float], **common) -> pd.DataFrame:
    rows = []
    for seed, (c, u, s) in enumerate(zip(clean, unique, shortcut), start=5):
        rows += [dict(seed=seed, condition="clean", rsum=c, shortcut_mode="none", start_rsum=100.0 + seed),
                 dict(seed=seed, condition="shortcut", rsum=40.0, shortcut_mode="none", start_rsum=30.0),
                 dict(seed=seed, condition="clean", rsum=u, start_rsum=100.0 + seed),
                 dict(seed=seed, condition="shortcut", rsum=s, start_rsum=30.0)]
    return runs(rows, **common)


def test_kept_table_reads_per_seed_shares_steps_and_the_precondition() -> None:
    tables = {"claims_finetune": setting([200.0, 220.0], [150.0, 154.0], [560.0, 570.0]),
              "control_scratch_matched": setting([250.0, 240.0], [25.0, 48.0], [480.0, 470.0])}
    table = controls.kept_table(tables, controls.MATCHED)
    assert list(table.index) == [controls.MATCHED["claims_finetune"], controls.MATCHED["control_scratch_matched"]]
    tuned = table.iloc[0]
    assert tuned["steps"] == 456 and tuned["seeds"] == 2 and tuned["kept (%)"] == "72.5 ± 3.5"  # 75 % and 70 %
    assert tuned["uses the shortcut (>= 500)"] == "yes"
    assert table.iloc[1]["kept (%)"] == "15.0 ± 7.1" and table.iloc[1]["uses the shortcut (>= 500)"] == "no"
    assert controls.kept_shares(tables, "claims_finetune") == pytest.approx((0.725, 565.0))
    assert controls.kept_table({}, controls.MATCHED).empty


def test_zero_shot_table_pairs_each_seed_with_its_own_start() -> None:
    table = controls.zero_shot_table(setting([200.0, 220.0], [95.0, 96.0], [560.0, 570.0]))
    row = table.loc["clean RSUM"]
    assert row["start (zero-shot)"] == "105.5 ± 0.7" and row["fine-tuned, unique"] == "95.5 ± 0.7"
    assert row["unique minus start (95 %)"].startswith("-10.0 [-10.0, -10.0]")  # 95 - 105, 96 - 106


def ltd_run(seed: int, eta: float, target: str, clean: float, rec: float, **fields) -> list[dict]:
    common = dict(seed=seed, ltd="constrained", ltd_bound=eta, ltd_target_caption=target, ltd_rec_constraint=rec,
                  steps=570, **fields)
    return [dict(common, condition="clean", rsum=clean), dict(common, condition="shortcut", rsum=580.0)]


def test_ltd_length_table_shows_every_variant_at_the_same_steps() -> None:
    paper = runs([dict(seed=s, condition=c, rsum=r, steps=570) for s in (5, 6) for c, r in
                  (("clean", 45.0), ("shortcut", 580.0))]
                 + [row for s in (5, 6) for row in ltd_run(s, 0.05, "clean", 130.0, 0.004)])
    length = runs([row for s in (5, 6) for eta, target, clean, rec in
                   ((0.05, "as_fed", 120.0, 0.003), (0.4, "as_fed", 50.0, 0.2), (0.4, "clean", 55.0, 0.06))
                   for row in ltd_run(s, eta, target, clean, rec)])
    table = trials.ltd_length_table({"trial_paper_ltd": paper, "trial_ltd_length": length})
    assert list(table["steps"]) == [570] * 5 and list(table["seeds"]) == [2] * 5
    assert table.loc["LTD, targets as fed (the paper's), eta 0.4", "clean RSUM"] == "50.0 ± 0.0"
    assert table.loc["LTD, targets clean (the course's), eta 0.05", "within eta"] == "2 of 2"


def test_digit_gain_table_finds_a_gain_on_training_captions_only() -> None:
    """Training captions: the digits cut L_rec from 0.02 to 0.004; held-out ones: no gain."""
    rows = []
    for seed in (5, 6, 7):
        for n in (1000, 5000):
            rec = dict(ltd_rec_train=0.02 + 0.001 * seed, ltd_rec_train_shortcut=0.004,
                       ltd_rec_test=0.03, ltd_rec_test_shortcut=0.03 + 0.0001 * seed)
            rows.append(dict(seed=seed, n_train=n, ltd="constrained", condition="clean", rsum=100.0, **rec))
    table = trials.digit_gain_table(runs(rows))
    assert list(table["seeds"]) == [3, 3]
    low = float(table.iloc[0]["training gain minus held-out gain"].split(" [")[1].split(",")[0])
    assert low > 0  # memorised: the interval of (training gain - held-out gain) lies above 0

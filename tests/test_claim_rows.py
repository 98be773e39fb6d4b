"""svl_lib.course.claim_rows: every protocol row judged on the committed results of its stage, paired by
seed at its family's level, stale rows shown as stale, and the pairing and filters the protocols
name (seeds both sides have; LTD runs within their bound)."""
import pandas as pd
import pytest

from svl_lib.course import claim_rows
from svl_lib.course.verdicts import VERDICTS
from svl_lib.experiments.protocols import protocols


@pytest.fixture(scope="module")
def exploratory() -> dict[str, pd.DataFrame]:
    return claim_rows.stage_tables("exploratory")


def test_every_row_of_a_stage_gets_a_verdict_from_its_rule(exploratory) -> None:
    verdicts = claim_rows.course_verdicts(exploratory, "exploratory")
    expected = [claim_rows.label(p) for p in protocols().values() if "exploratory" in p.stages]
    assert list(verdicts) == expected and set(claim_rows.ROWS) == set(protocols())
    assert all(v.verdict in VERDICTS for v in verdicts.values())
    mitigation = verdicts[claim_rows.label(protocols()["5-ltd-finetune"])]
    assert "(99.4 %, paired, n=5)" in mitigation.reason  # claim 5's family: 9 tests


def test_a_row_without_runs_in_its_stage_is_not_testable(exploratory) -> None:
    verdicts = claim_rows.course_verdicts({k: v for k, v in exploratory.items() if k != "trial_paper_ltd"},
                                          "exploratory")
    course = verdicts[claim_rows.label(protocols()["5-ltd-course"])]
    assert course.verdict == "not testable here" and "no exploratory runs of trial_paper_ltd" in course.reason


def test_a_stale_table_shows_its_rows_as_stale_never_as_verdicts(exploratory) -> None:
    stale = dict(exploratory)
    stale["claims_finetune"] = exploratory["claims_finetune"].copy()
    stale["claims_finetune"].attrs["stale"] = True
    table = claim_rows.verdicts_side_by_side(stale, {})
    stale_protocols = [p for p in protocols().values() if "claims_finetune" in p.grids
                       and "exploratory" in p.stages]
    rows = [p.id for p in stale_protocols]
    assert set(table.loc[rows, "exploratory"]) == {claim_rows.STALE}
    assert claim_rows.STALE not in set(table.drop(index=rows)["exploratory"])
    label = claim_rows.label(stale_protocols[0])
    assert claim_rows.reasons(stale, "exploratory").loc[label, "verdict"] == claim_rows.STALE
    assert f"row {rows[0]}: {claim_rows.STALE}" in claim_rows.reasons_text(stale, "exploratory")


def test_the_verdict_table_and_its_reasons_read_in_short_lines(exploratory) -> None:
    """Notebook 07's slot: no cell of the side-by-side table over 200 characters, every reason line
    within its width, and every row's verdict on its own ``row <id>: <verdict>`` line."""
    from svl_lib.course.verdicts import VERDICTS

    table = claim_rows.verdicts_side_by_side(exploratory, {})
    assert table.map(lambda cell: len(str(cell))).to_numpy().max() <= 200
    assert table.index.str.len().max() <= 20
    text = claim_rows.reasons_text(exploratory, "exploratory", width=100)
    assert max(len(line) for line in text.splitlines()) <= 100
    heads = [line for line in text.splitlines() if line.startswith("row ")]
    assert [h.split(":")[0][4:] for h in heads] == [p.id for p in protocols().values()
                                                    if "exploratory" in p.stages]
    assert {h.split(": ", 1)[1].split("  ")[0] for h in heads} <= set(VERDICTS)


def test_a_combined_reason_splits_only_outside_parentheses() -> None:
    assert claim_rows._top_level_parts("a (x; y); b [1; 2]; c") == ["a (x; y)", "b [1; 2]", "c"]


def test_paired_keeps_the_seeds_every_side_has() -> None:
    a = pd.Series([1.0, 2.0, 3.0], index=[0, 1, 2])
    b = pd.Series([10.0, 30.0], index=[2, 0])
    assert claim_rows.paired(a, b) == [[1.0, 3.0], [30.0, 10.0]]


def test_ltd_rows_count_only_runs_within_their_bound(exploratory) -> None:
    """T2's clean-target runs: with every seed but one pushed out of the bound, the row has one
    pair left and is not testable; the unique reference keeps all five seeds."""
    paper = exploratory["trial_paper_ltd"].copy()
    ltd = (paper["ltd"] == "constrained") & (paper["ltd_bound"] == 0.05)
    paper.loc[ltd & (paper["seed"] > 0), "ltd_rec_constraint"] = 0.5
    verdict = claim_rows.course_verdicts({**exploratory, "trial_paper_ltd": paper}, "exploratory")[
        claim_rows.label(protocols()["5-ltd-course"])]
    assert verdict.verdict == "not testable here" and "too few seeds" in verdict.reason


def test_the_confirmatory_results_are_fresh_seeds_made_under_the_committed_protocols() -> None:
    confirm = claim_rows.stage_tables("confirmatory")
    assert {"claims_finetune", "claims_scratch", "control_scratch_matched", "control_shortcut_start"} <= set(confirm)
    assert all(set(t["seed"]) == {5, 6, 7, 8, 9} for t in confirm.values())
    assert claim_rows.stale_rows(confirm, "confirmatory") == set()
    verdicts = claim_rows.course_verdicts(confirm, "confirmatory")
    ran = [p for p in protocols().values() if "confirmatory" in p.stages and set(p.grids) <= set(confirm)]
    assert ran and all("no confirmatory runs" not in verdicts[claim_rows.label(p)].reason for p in ran)


TRIAL_ROWS = ("T1", "T2-finetune", "T3-clean", "T3-cut", "T4", "T5a", "T5b", "T6a", "T6b")


@pytest.fixture(scope="module")
def trial_tables() -> dict[str, pd.DataFrame]:
    """The exploratory runs of the trials (seeds 0-4), which the trials' confirmatory rows read on
    seeds 5-9: the rows' code path, not their verdicts."""
    from svl_lib.course.course_claims import variant
    from svl_lib.experiments.results import grid_results
    names = ("claims_scratch", "trial_clipping", "trial_decoder_warmup", "trial_headroom", "trial_caption_side",
             "trial_image_side_ltd", "trial_caption_only")
    return {n: (t := grid_results(n, "exploratory")).assign(variant=t.apply(variant, axis=1)) for n in names}


def judge(row: str, tables: dict[str, pd.DataFrame], **thresholds):
    from dataclasses import replace

    from svl_lib.course.intervals import family_level
    p = protocols()[row]
    p = replace(p, thresholds={**p.thresholds, **thresholds})
    th = {k: v for k, v in p.thresholds.items() if k not in claim_rows.SELECTING}
    return claim_rows.ROWS[row](p, tables, family_level(p.family_tests()), th)


def test_every_trial_row_pairs_five_seeds_at_its_family_s_level(trial_tables) -> None:
    for row in TRIAL_ROWS:
        verdict = judge(row, trial_tables)
        assert verdict.seeds == "5 seeds", row
        level = {"T3-clean": "99.6 %", "T3-cut": "99.6 %", "T4": "97.5 %", "T5a": "97.5 %"}.get(row, "")
        assert f"({level}, paired, n=5)" in verdict.reason if level else "paired, n=5" in verdict.reason, row


def test_trial_preconditions_leave_settings_out_before_judging(trial_tables) -> None:
    """T4 judges only embedding sizes whose caption probe is below the bound; T3 only settings
    above 3 x chance without a mitigation; with none left, the row is not testable."""
    none_left = judge("T4", trial_tables, caption_probe_below=0)
    assert none_left.verdict == "not testable here" and "no caption probe is below 0 %" in none_left.reason
    assert "embed_dim 16" not in judge("T4", trial_tables, caption_probe_below=50).reason
    floor = dict(trial_tables, trial_headroom=trial_tables["trial_headroom"].assign(chance_rsum=1e3))
    assert judge("T3-clean", floor).verdict == "not testable here"
    assert judge("T3-cut", floor).verdict != "not testable here"  # the reliance rows need no headroom


def test_the_caption_only_harm_is_compared_per_seed_between_poolings(trial_tables) -> None:
    """T6a: where the mean-pooled GRU's caption-only runs equal its clean runs (no harm), the row
    agrees; where they lose as much as the last-token GRU's, it does not."""
    only = trial_tables["trial_caption_only"].copy()
    clean = only[only["variant"] == "clean"].set_index(["seed", "condition"])["rsum"]
    caption_only = only["variant"] == "caption-only"
    keys = list(zip(only.loc[caption_only, "seed"], only.loc[caption_only, "condition"]))
    only.loc[caption_only, "rsum"] = [clean[k] for k in keys]
    assert judge("T6a", dict(trial_tables, trial_caption_only=only)).verdict == "agree"
    assert judge("T6b", dict(trial_tables, trial_caption_only=only)).verdict == "not shown"
    scratch = trial_tables["claims_scratch"]
    same = scratch[scratch["variant"].isin(["clean", "caption-only"])].assign(text_pooling="mean")
    assert judge("T6a", dict(trial_tables, trial_caption_only=same)).verdict == "not shown"


def test_the_reasons_of_chosen_rows_only() -> None:
    confirm = claim_rows.stage_tables("confirmatory")
    text = claim_rows.reasons_text(confirm, "confirmatory", rows=["T1", "T6a"])
    assert [line.split(":")[0] for line in text.splitlines() if line.startswith("row ")] == ["row T1", "row T6a"]

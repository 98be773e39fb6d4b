"""svl_lib.course.claims: each rule on constructed numbers for every outcome it can return, Welch's
interval against scipy and by hand, bad input, and the paper's own numbers through the rules."""
import math

import pytest
from scipy import stats

from svl_lib.course.claims import (bits_trend, clean_collapse, ends_below_start, mitigation_does_not_stop,
                                    mitigation_helps, one_sided_no_harm, reliance_cut_more, rises,
                                    share_kept_higher, shortcut_used, uses_shortcut)
from svl_lib.course.verdicts import VERDICTS, Verdict, combine, verdict_table
from svl_lib.course.intervals import Difference, family_level, holm, paired_difference, welch_difference


def around(x: float, spread: float = 0.5) -> list[float]:
    """Three values x - spread, x, x + spread: mean x, sample standard deviation spread."""
    return [x - spread, x, x + spread]


# ---------------------------------------------------------------- Welch's interval

def test_welch_matches_scipy_welch_t_test() -> None:
    a, b = [401.0, 395.5, 410.2, 399.9, 404.1], [380.3, 391.0, 377.7]
    diff = welch_difference(a, b, level=0.9)
    expected = stats.ttest_ind(b, a, equal_var=False).confidence_interval(0.9)
    assert diff.mean == pytest.approx(sum(b) / 3 - sum(a) / 5)
    assert (diff.low, diff.high) == pytest.approx((expected.low, expected.high))
    assert (diff.n_a, diff.n_b, diff.level) == (5, 3, 0.9)


def test_welch_by_hand() -> None:
    """a = 1, 2, 3 (variance 1), b = 4, 6, 8 (variance 4): se^2 = 1/3 + 4/3, df = (5/3)^2 / ((1/3)^2/2 + (4/3)^2/2)."""
    diff = welch_difference([1, 2, 3], [4, 6, 8])
    se, df = math.sqrt(5 / 3), (5 / 3) ** 2 / ((1 / 9) / 2 + (16 / 9) / 2)
    assert df == pytest.approx(2.9412, abs=1e-4)
    half = stats.t.ppf(0.975, df) * se
    assert (diff.mean, diff.low, diff.high) == pytest.approx((4.0, 4.0 - half, 4.0 + half))


def test_welch_with_one_constant_side_is_the_one_sample_interval() -> None:
    diff = welch_difference([5.0, 5.0, 5.0], [6.0, 7.0, 8.0])
    half = stats.t.ppf(0.975, 2) * 1 / math.sqrt(3)
    assert (diff.low, diff.high) == pytest.approx((2.0 - half, 2.0 + half))


def test_welch_of_two_constant_samples_collapses_to_the_mean() -> None:
    diff = welch_difference([5.0, 5.0, 5.0], [7.0, 7.0])
    assert (diff.mean, diff.low, diff.high, diff.n_a, diff.n_b, diff.paired) == (2.0, 2.0, 2.0, 3, 2, False)
    assert math.isnan(diff.p)


def test_difference_prints_mean_interval_level_and_counts() -> None:
    assert str(Difference(-12.34, -20.06, -4.52, 5, 5, 0.95)) == "-12.3 [-20.1, -4.5] (95 %, n=5/5)"
    assert str(Difference(-12.34, -20.06, -4.52, 5, 5, 1 - 0.05 / 6, True)) == \
        "-12.3 [-20.1, -4.5] (99.2 %, paired, n=5)"


# ---------------------------------------------------------------- paired intervals and families

def test_paired_matches_scipy_paired_t_test() -> None:
    a, b = [401.0, 395.5, 410.2, 399.9, 404.1], [380.3, 391.0, 377.7, 385.2, 390.0]
    diff = paired_difference(a, b, level=0.9)
    test = stats.ttest_rel(b, a)
    expected = test.confidence_interval(0.9)
    assert diff.paired and diff.mean == pytest.approx((sum(b) - sum(a)) / 5)
    assert (diff.low, diff.high) == pytest.approx((expected.low, expected.high))
    assert diff.p == pytest.approx(test.pvalue) and str(diff).endswith("(90 %, paired, n=5)")


def test_paired_is_narrower_than_welch_where_seeds_share_their_spread() -> None:
    """Two settings whose seeds move together (a shared start): the seed spread cancels in the
    per-seed differences, so the paired interval shows a difference Welch's cannot."""
    a = [300.0, 340.0, 380.0, 420.0, 460.0]
    b = [x + 10.0 + d for x, d in zip(a, [-1.0, 1.0, 0.0, -0.5, 0.5])]
    paired, welch = paired_difference(a, b), welch_difference(a, b)
    assert paired.low > 0 > welch.low
    assert (paired.high - paired.low) * 25 < welch.high - welch.low


@pytest.mark.parametrize("a, b, message", [([1.0, 2.0, 3.0], [1.0, 2.0], "one value per seed"),
                                           ([1.0], [2.0], "at least 2 seeds")])
def test_paired_rejects_unmatched_or_single_seeds(a, b, message) -> None:
    with pytest.raises(ValueError, match=message):
        paired_difference(a, b)


def test_holm_by_hand_and_bonferroni_level() -> None:
    """p = 0.01, 0.04, 0.03: sorted 0.01 x 3 = 0.03, 0.03 x 2 = 0.06, then max(0.06, 0.04 x 1)."""
    assert holm([0.01, 0.04, 0.03]) == pytest.approx([0.03, 0.06, 0.06])
    assert holm([0.5, float("nan")])[0] == pytest.approx(1.0) and math.isnan(holm([0.5, float("nan")])[1])
    assert family_level(1) == pytest.approx(0.95) and family_level(10) == pytest.approx(0.995)
    with pytest.raises(ValueError, match="at least 1 test"):
        family_level(0)


def test_a_family_level_widens_the_interval_a_rule_reads() -> None:
    """The same numbers: a harm bound met at 95 % is not met at a 10-test family's 99.5 %."""
    clean, one_sided = seeds(400.0), [x - 37.0 for x in seeds(400.0)]
    one_sided[0] -= 3.0
    assert one_sided_no_harm(clean, one_sided, paired=True).verdict == "agree"
    assert one_sided_no_harm(clean, one_sided, paired=True, level=family_level(10)).verdict == "not shown"


@pytest.mark.parametrize("a, b, message", [([1.0], [1.0, 2.0], "a has 1"), ([1.0, 2.0], [3.0], "b has 1"),
                                           ([], [1.0, 2.0], "non-empty"), ([1.0, math.nan], [1.0, 2.0], "finite"),
                                           ([[1.0, 2.0]], [1.0, 2.0], "list of finite numbers")])
def test_welch_rejects_bad_samples(a, b, message) -> None:
    with pytest.raises(ValueError, match=message):
        welch_difference(a, b)


@pytest.mark.parametrize("level", [0.0, 1.0, 95])
def test_welch_rejects_a_level_outside_0_1(level) -> None:
    with pytest.raises(ValueError, match="level"):
        welch_difference([1, 2], [3, 4], level=level)


# ---------------------------------------------------------------- small parts

def test_uses_shortcut_is_the_mean_against_the_threshold() -> None:
    assert uses_shortcut([499.0, 501.0]) and not uses_shortcut([499.0, 500.9])
    assert uses_shortcut([420.0], threshold=400.0)
    with pytest.raises(ValueError, match="shortcut_rsum"):
        uses_shortcut([])


def test_a_verdict_outside_the_vocabulary_is_refused() -> None:
    assert VERDICTS == ("agree", "partly", "not shown", "not testable here")
    with pytest.raises(ValueError, match="not one of"):
        Verdict("yes", "", "", "")


def test_verdict_table_has_one_row_per_claim() -> None:
    table = verdict_table({"2": Verdict("agree", "r2", "", "3 seeds"),
                           "3b": Verdict("not testable here", "r3", "p: fails", "3 and 5 seeds")})
    assert list(table.columns) == ["verdict", "reason", "precondition", "seeds"]
    assert table.index.name == "claim" and list(table.index) == ["2", "3b"]
    assert table.loc["3b", "verdict"] == "not testable here" and table.loc["3b", "seeds"] == "3 and 5 seeds"
    assert verdict_table({}).empty


# ---------------------------------------------------------------- claim 2: one-sided shortcut, no harm

def test_one_sided_no_harm_agrees_within_the_margin() -> None:
    verdict = one_sided_no_harm(around(400.0), around(390.0))
    assert verdict.verdict == "agree" and verdict.seeds == "3 seeds" and verdict.precondition == ""
    assert "-10.0 [" in verdict.reason and "harm bound -40.0" in verdict.reason


def test_one_sided_no_harm_not_shown_for_harm() -> None:
    verdict = one_sided_no_harm(around(400.0), around(300.0))
    assert verdict.verdict == "not shown" and verdict.reason.endswith("harm")


def test_one_sided_no_harm_not_shown_when_inconclusive() -> None:
    """Mean loss 30 is inside the 40 margin, but the interval reaches past it."""
    verdict = one_sided_no_harm(around(400.0, 20.0), around(370.0, 20.0))
    assert verdict.verdict == "not shown" and verdict.reason.endswith("inconclusive")


def test_one_sided_no_harm_needs_seeds() -> None:
    verdict = one_sided_no_harm([400.0, 401.0], around(400.0))
    assert verdict.verdict == "not testable here"
    assert "clean has 2" in verdict.reason and verdict.seeds == "2 and 3 seeds"
    assert verdict.precondition == "at least 3 seeds per setting: fails"
    with pytest.raises(ValueError, match="min_seeds"):
        one_sided_no_harm([400.0], [400.0], min_seeds=1)
    empty = one_sided_no_harm(around(400.0), [])  # e.g. no run reached its bound: nothing to judge
    assert empty.verdict == "not testable here" and "one_sided has 0" in empty.reason


# ---------------------------------------------------------------- combining settings

AGREE, SHOWN_NOT = Verdict("agree", "a", "", "3 seeds"), Verdict("not shown", "n", "", "5 seeds")
UNTESTABLE = Verdict("not testable here", "u", "x: fails", "5 seeds")
PARTLY = Verdict("partly", "p", "", "5 seeds")


@pytest.mark.parametrize("parts, expected", [([AGREE, AGREE], "agree"), ([AGREE, SHOWN_NOT], "partly"),
                                             ([AGREE, UNTESTABLE], "partly"), ([SHOWN_NOT, SHOWN_NOT], "not shown"),
                                             ([UNTESTABLE, UNTESTABLE], "not testable here"),
                                             ([SHOWN_NOT, UNTESTABLE], "not shown")])
def test_combine(parts, expected) -> None:
    assert combine(parts).verdict == expected


@pytest.mark.parametrize("parts", [[PARTLY, SHOWN_NOT], [PARTLY, PARTLY], [PARTLY, UNTESTABLE], [AGREE, PARTLY]])
def test_combine_keeps_a_partly(parts) -> None:
    """A part that agrees partly is not folded into "not shown"."""
    assert combine(parts).verdict == "partly"


def test_combine_joins_reasons_preconditions_and_seeds() -> None:
    verdict = combine([AGREE, UNTESTABLE, SHOWN_NOT], claim_parts="datasets")
    assert verdict.reason == "1 of 3 datasets agree: agree (a); not testable here (u); not shown (n)"
    assert verdict.precondition == "x: fails" and verdict.seeds == "3 seeds; 5 seeds"
    with pytest.raises(ValueError, match="at least one"):
        combine([])


# ---------------------------------------------------------------- claim 3b: the clean RSUM collapses

@pytest.mark.parametrize("kind, clean_shortcut, expected", [
    ("full", 1.0, "agree"), ("full", 200.0, "partly"), ("full", 400.0, "not shown"),
    ("partial", 200.0, "agree"), ("partial", 1.0, "partly"), ("partial", 400.0, "not shown")])
def test_clean_collapse(kind, clean_shortcut, expected) -> None:
    """Baseline 400, chance 1 (collapsed below 3); 400 with the shortcut is no loss."""
    verdict = clean_collapse(around(400.0), around(clean_shortcut, 0.2), around(590.0), chance=1.0, kind=kind)
    assert verdict.verdict == expected
    assert verdict.precondition == "shortcut RSUM 590.0 >= 500: holds" and verdict.seeds == "3 seeds"


@pytest.mark.parametrize("kind", ["full", "partial"])
def test_clean_collapse_needs_a_significant_loss(kind) -> None:
    """A mean loss of 10 with a seed spread of 20 is no significant loss."""
    verdict = clean_collapse(around(400.0, 20.0), around(390.0, 20.0), around(590.0), chance=1.0, kind=kind)
    assert verdict.verdict == "not shown"


def test_a_full_collapse_needs_a_significant_loss_too() -> None:
    """Below 3 x chance with the shortcut, but from a baseline whose seeds spread as widely: no
    significant loss, so no collapse."""
    verdict = clean_collapse(around(10.0, 10.0), around(2.0, 0.2), around(590.0), chance=1.0, kind="full")
    assert verdict.verdict == "not shown"


def test_clean_collapse_counts_only_where_the_shortcut_is_used() -> None:
    verdict = clean_collapse(around(400.0), around(1.0), around(406.4), chance=1.0, kind="full")
    assert verdict.verdict == "not testable here" and "406.4" in verdict.reason
    assert verdict.precondition == "shortcut RSUM 406.4 >= 500: fails"


def test_clean_collapse_needs_seeds_and_a_known_kind_and_chance() -> None:
    assert clean_collapse([400.0, 401.0], around(1.0), around(590.0), 1.0, "full").verdict == "not testable here"
    with pytest.raises(ValueError, match="kind"):
        clean_collapse(around(400.0), around(1.0), around(590.0), 1.0, "total")
    with pytest.raises(ValueError, match="chance"):
        clean_collapse(around(400.0), around(1.0), around(590.0), 0.0, "full")


# ---------------------------------------------------------------- claim 4: the bits trend

BITS = [0, 1, 2, 3, 4, 5]


@pytest.mark.parametrize("clean, shortcut, expected", [
    ([400, 380, 390, 300, 200, 100], [400, 450, 440, 520, 560, 590], "agree"),   # dips are allowed
    ([400, 380, 390, 300, 200, 100], [500, 500, 500, 500, 500, 500], "partly"),  # constant: no trend
    ([400, 410, 380, 420, 390, 400], [400, 450, 440, 520, 560, 590], "partly"),
    ([400, 410, 380, 420, 390, 400], [590, 560, 580, 570, 590, 560], "not shown")])
def test_bits_trend(clean, shortcut, expected) -> None:
    verdict = bits_trend(BITS, clean, shortcut)
    assert verdict.verdict == expected and verdict.seeds == "6 points (n_bits 0-5), 1-1 seeds each"


def test_bits_trend_needs_four_points_of_the_same_length() -> None:
    verdict = bits_trend([0, 1, 2], [3, 2, 1], [1, 2, 3])
    assert verdict.verdict == "not testable here" and verdict.precondition == "at least 4 distinct n_bits: fails"
    with pytest.raises(ValueError, match="one value per run"):
        bits_trend(BITS, [1, 2, 3], [1, 2, 3, 4, 5, 6])


def test_bits_trend_reads_per_point_means_and_needs_its_seeds() -> None:
    """Two seeds per point: one rank swap within a point's seeds does not move the means' order."""
    bits = [b for b in BITS for _ in range(2)]
    clean = [v for x in [400, 380, 300, 250, 200, 100] for v in (x - 30, x + 30)]
    shortcut = [v for x in [400, 450, 500, 520, 560, 590] for v in (x + 40, x - 40)]
    assert bits_trend(bits, clean, shortcut, min_seeds=2).verdict == "agree"
    short = bits_trend(bits, clean, shortcut, min_seeds=3)
    assert short.verdict == "not testable here" and short.precondition == "at least 3 seeds per point: fails"


# ---------------------------------------------------------------- claim 5 and the mitigations

FIVE = [-2.0, -1.0, 0.0, 1.0, 2.0]


def seeds(x: float) -> list[float]:
    """Five seeds around x (sample standard deviation about 1.6)."""
    return [x + d for d in FIVE]


def test_mitigation_helps_partly_when_the_clean_rsum_rises_but_the_shortcut_stays() -> None:
    """The paper's claim: a mitigation *partly* reduces shortcut learning. Clean RSUM rises, yet the
    model still uses the shortcut (520 >= 500) and stays below the reference (400)."""
    verdict = mitigation_helps(seeds(200.0), seeds(260.0), seeds(590.0), seeds(520.0), seeds(400.0), chance=1.0)
    assert verdict.verdict == "partly" and verdict.seeds == "5 seeds"
    assert "still uses the shortcut" in verdict.reason and "below the reference" in verdict.reason
    assert "clean RSUM 60.0 [" in verdict.reason and "shortcut RSUM -70.0 [" in verdict.reason
    assert verdict.precondition.startswith("without the mitigation, shortcut RSUM 590.0 >= 500: holds")
    assert verdict.precondition.endswith(": holds")


@pytest.mark.parametrize("shortcut_with, clean_with, expected, gap", [
    (300.0, 400.0, "agree", ""), (300.0, 300.0, "partly", "below the reference"),
    (560.0, 400.0, "partly", "still uses the shortcut")])
def test_mitigation_helps_in_full_only_without_the_shortcut_and_at_the_reference(
        shortcut_with, clean_with, expected, gap) -> None:
    verdict = mitigation_helps(seeds(200.0), seeds(clean_with), seeds(590.0), seeds(shortcut_with), seeds(400.0),
                               chance=1.0, paired=True)
    assert verdict.verdict == expected and gap in verdict.reason and "paired, n=5" in verdict.reason


def test_mitigation_helps_not_shown_when_the_clean_rsum_stays() -> None:
    verdict = mitigation_helps(seeds(200.0), seeds(201.0), seeds(590.0), seeds(520.0), seeds(400.0), chance=1.0)
    assert verdict.verdict == "not shown" and verdict.reason.endswith("clean RSUM does not rise")


def test_mitigation_helps_says_when_the_mitigated_run_is_still_at_chance() -> None:
    """A significant rise counts as help even at chance level (the claim is "helps, partly"); the
    reason says so, and mitigation_does_not_stop reads the collapse itself."""
    near = [0.1 * d for d in FIVE]
    verdict = mitigation_helps([1.0 + d for d in near], [4.0 + d for d in near], seeds(590.0), seeds(590.0),
                               seeds(400.0), chance=5.0)
    assert verdict.verdict == "partly" and "(still below 3 x chance)" in verdict.reason


@pytest.mark.parametrize("shortcut_without, clean_without, failed", [
    (420.0, 200.0, "does not use the shortcut"), (590.0, 400.0, "nothing to recover")])
def test_mitigation_helps_not_testable_without_its_precondition(shortcut_without, clean_without, failed) -> None:
    verdict = mitigation_helps(seeds(clean_without), seeds(clean_without + 60), seeds(shortcut_without),
                               seeds(500.0), seeds(400.0), chance=1.0)
    assert verdict.verdict == "not testable here" and failed in verdict.reason
    assert verdict.precondition.count("fails") == 1


def test_mitigation_helps_needs_five_seeds() -> None:
    verdict = mitigation_helps(seeds(200.0), seeds(260.0)[:4], seeds(590.0), seeds(520.0), seeds(400.0), 1.0)
    assert verdict.verdict == "not testable here" and "clean_with has 4" in verdict.reason
    assert verdict.seeds == "4 and 5 seeds"


@pytest.mark.parametrize("clean_without, clean_with, shortcut_without, expected", [
    (1.0, 2.0, 600.0, "agree"), (1.0, 3.5, 600.0, "not shown"), (1.0, 300.0, 600.0, "not shown"),
    (200.0, 2.0, 600.0, "not testable here"), (1.0, 2.0, 420.0, "not testable here")])
def test_mitigation_does_not_stop(clean_without, clean_with, shortcut_without, expected) -> None:
    """chance 1: collapsed below 3."""
    spread = [0.1 * d for d in FIVE]
    verdict = mitigation_does_not_stop([clean_without + d for d in spread], [clean_with + d for d in spread],
                                       seeds(shortcut_without), seeds(400.0), chance=1.0)
    assert verdict.verdict == expected
    if expected == "not testable here":
        assert verdict.reason == "nothing collapses onto a shortcut here" and "fails" in verdict.precondition


def test_mitigation_does_not_stop_needs_seeds() -> None:
    assert mitigation_does_not_stop(around(1.0), seeds(2.0), seeds(600.0), seeds(400.0), 1.0).verdict == \
        "not testable here"


@pytest.mark.parametrize("ltd, expected", [(450.0, "agree"), (579.0, "not shown"), (600.0, "not shown")])
def test_reliance_cut_more(ltd, expected) -> None:
    verdict = reliance_cut_more(seeds(ltd), seeds(580.0), "LTD", "IFM")
    assert verdict.verdict == expected and "LTD minus IFM" in verdict.reason


def test_reliance_cut_more_needs_seeds_and_two_names() -> None:
    verdict = reliance_cut_more(around(450.0), seeds(580.0), "LTD", "IFM")
    assert verdict.verdict == "not testable here" and "LTD has 3" in verdict.reason
    with pytest.raises(ValueError, match="two different"):
        reliance_cut_more(seeds(450.0), seeds(580.0), "LTD", "LTD")


# ---------------------------------------------------------------- the paper's own numbers

COCO_CHANCE, F30K_CHANCE = 0.36, 1.8
CLIP_COCO_CLEAN = [449.48, 443.94, 438.21, 431.92, 422.64, 411.07, 399.47, 381.19, 363.01, 344.83, 323.98,
                   308.08, 288.11, 267.51]
CLIP_COCO_WITH = [445.21, 482.58, 516.93, 544.21, 561.54, 573.54, 582.80, 586.87, 588.04, 587.55, 586.98,
                  592.06, 595.32, 597.40]
VSE_F30K_CLEAN = [344.40, 366.48, 352.64, 341.18, 312.02, 281.56, 250.26, 190.62, 128.90, 86.04, 24.28, 5.68,
                  5.72, 4.42]
VSE_F30K_WITH = [401.28, 440.56, 484.20, 512.36, 530.40, 549.62, 565.24, 572.28, 577.00, 580.44, 575.96,
                 570.10, 584.10, 591.68]
VSE_COCO_BASELINE = [356.86, 361.50, 358.82]   # the paper's three VSE++ COCO runs


def test_the_papers_numbers_through_the_rules() -> None:
    """The paper (Bleeker et al. 2024) reports single runs. Each single number x is fed as the three
    values x - 0.5, x, x + 0.5 (``around``), a seed spread of 0.5 RSUM, so that the Welch rules can
    run; the VSE++ COCO baseline is the paper's three real runs. Chance RSUM: about 0.36 on COCO 5k,
    1.8 on Flickr30k 1k. The rules must agree with the paper where the paper's numbers show its claim."""
    # claim 3b: CLIP loses part of its clean RSUM, VSE++ all of it, in settings that use the shortcut
    assert 435.48 / 542.80 > 0.80   # the old "< 80 % of clean" window rejected this; the rule must not
    for baseline, clean, with_shortcut, chance in [(445.88, 158.39, 599.93, COCO_CHANCE),
                                                   (542.80, 435.48, 599.94, F30K_CHANCE)]:
        verdict = clean_collapse(around(baseline), around(clean), around(with_shortcut), chance, "partial")
        assert verdict.verdict == "agree", verdict
    for baseline, clean, chance in [(VSE_COCO_BASELINE, 0.72, COCO_CHANCE), (around(412.80), 2.76, F30K_CHANCE)]:
        assert clean_collapse(baseline, around(clean), around(600.0), chance, "full").verdict == "agree"

    # claim 4: both published bits curves, dips included
    assert bits_trend(range(14), CLIP_COCO_CLEAN, CLIP_COCO_WITH).verdict == "agree"
    assert VSE_F30K_CLEAN[1] > VSE_F30K_CLEAN[0]   # the curve is not monotone
    assert bits_trend(range(14), VSE_F30K_CLEAN, VSE_F30K_WITH).verdict == "agree"

    # claim 2: a shortcut on one side only does no harm (clean evaluation, 10 % margin)
    settings = {"CLIP COCO image-only": (around(445.88), 447.23), "CLIP COCO caption-only": (around(445.88), 444.00),
                "CLIP F30k image-only": (around(542.80), 546.22), "CLIP F30k caption-only": (around(542.80), 544.34),
                "VSE++ COCO image-only": (VSE_COCO_BASELINE, 360.03),
                "VSE++ F30k image-only": (around(412.80), 403.42),
                "VSE++ F30k caption-only": (around(412.80), 394.68)}   # -4.4 %: inside the margin
    for name, (clean, one_sided) in settings.items():
        assert one_sided_no_harm(clean, around(one_sided)).verdict == "agree", name
    # VSE++ COCO caption-only: 320.28 against 359.06 is -38.8 (-10.8 %), past the -35.9 bound, but with
    # the baseline's real seed spread the interval [-44.2, -33.3] straddles the bound: "not shown",
    # read as inconclusive rather than as harm. The claim is not shown there either way.
    verdict = one_sided_no_harm(VSE_COCO_BASELINE, around(320.28))
    assert verdict.verdict == "not shown" and verdict.reason.endswith("inconclusive")
    assert "-38.8 [-44.2, -33.3]" in verdict.reason and "harm bound -35.9" in verdict.reason
    vse = combine([one_sided_no_harm(VSE_COCO_BASELINE, around(320.28)),
                   one_sided_no_harm(VSE_COCO_BASELINE, around(360.03))])
    assert vse.verdict == "partly"


def test_shortcut_used_reads_the_mean_shortcut_rsum_against_the_threshold() -> None:
    assert shortcut_used([540.0, 550.0, 560.0]).verdict == "agree"
    low = shortcut_used([400.0, 410.0, 420.0])
    assert low.verdict == "not shown" and "410.0 >= 500: fails" in low.reason
    assert shortcut_used([599.9, 599.9, 599.9], threshold=600).verdict == "not shown"
    assert shortcut_used([550.0, 560.0]).verdict == "not testable here"  # 2 seeds < 3


# ---------------------------------------------------------------- controls: start, length, zero-shot

def test_rises_reads_the_interval_of_b_minus_a() -> None:
    tight, loose = seeds(130.0), seeds(60.0)
    assert rises(loose, tight, "clean RSUM", "eta 0.4", "eta 0.05", paired=True).verdict == "agree"
    flat = rises(loose, [x + 1.0 for x in loose[::-1]], "clean RSUM", "eta 0.4", "eta 0.05")
    assert flat.verdict == "not shown" and "not higher with eta 0.05" in flat.reason
    assert rises(loose[:3], tight, "clean RSUM", "a", "b").verdict == "not testable here"


@pytest.mark.parametrize("tuned, shortcut, expected", [
    (150.0, 590.0, "agree"), (250.0, 590.0, "not shown"), (150.0, 420.0, "not testable here")])
def test_ends_below_start(tuned, shortcut, expected) -> None:
    verdict = ends_below_start(seeds(200.0), seeds(tuned), seeds(shortcut))
    assert verdict.verdict == expected
    if expected != "not testable here":
        assert "paired, n=5" in verdict.reason


@pytest.mark.parametrize("unique_a, shortcut_b, expected", [
    (150.0, 590.0, "agree"), (40.0, 590.0, "not shown"), (150.0, 450.0, "not testable here")])
def test_share_kept_higher(unique_a, shortcut_b, expected) -> None:
    """a keeps 150/200 = 75 % (or 20 %), b keeps 40/200 = 20 %."""
    verdict = share_kept_higher(seeds(200.0), seeds(unique_a), seeds(590.0), seeds(200.0), seeds(40.0),
                                seeds(shortcut_b), "fine-tuned", "from scratch")
    assert verdict.verdict == expected
    if expected == "agree":
        assert "fine-tuned 75.0 %, from scratch 20.0 %" in verdict.reason

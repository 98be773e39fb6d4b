"""The README's headline ("What the course finds") quotes the confirmatory runs (seeds 5-9) and
nothing else: each share of clean RSUM kept at the same training budget, and LTD's clean RSUM
with the paper's targets within its bound, against no LTD and a loose bound for as long, as the
library computes them from the committed confirmatory results."""
import re
from pathlib import Path

from svl_lib.course import claim_rows, controls, trials

ROOT = Path(__file__).resolve().parent.parent
PAPER_SHARES = {"36 %", "0 %"}  # the paper's CLIP and VSE++ on COCO (158 of 446, 0.7 of 359)


def headline() -> str:
    """The README's section "What the course finds", figure caption included."""
    return (ROOT / "README.md").read_text().split("## What the course finds", 1)[1].split("\n## ", 1)[0]


def confirmatory_numbers() -> tuple[set[str], list[str]]:
    """The shares kept at the same budget ("74 %") of every equal-budget setting with confirmatory
    results (the fine-tuned analogue and controls (a) and (b) at least), and the length control's
    clean RSUM without LTD, with the paper's targets within eta 0.05, and with a loose eta 0.4
    ("41.6")."""
    confirm = claim_rows.stage_tables("confirmatory", extra=controls.MATCHED)
    run = [name for name in controls.MATCHED if name in confirm]
    assert {"claims_finetune", "control_scratch_matched", "control_shortcut_start"} <= set(run)
    shares = {f"{100 * controls.kept_shares(confirm, name)[0]:.0f} %" for name in run}
    clean = trials.ltd_length_table(confirm)["clean RSUM"].str.split(" ±").str[0]
    rows = ["unique, no LTD", "LTD, targets as fed (the paper's), eta 0.05",
            "LTD, targets as fed (the paper's), eta 0.4"]
    return shares, [clean[row] for row in rows]


def problems(text: str, shares: set[str], ltd: list[str]) -> list[str]:
    """What is wrong with a headline: a share it leaves out or one that is not a confirmatory (or
    the paper's) share, an LTD number it leaves out, no mention of the seeds."""
    quoted = set(re.findall(r"(?<![\d.])\d+ %", text))
    found = [f"missing share {s}" for s in sorted(shares - quoted)]
    found += [f"share not from the confirmatory runs: {s}" for s in sorted(quoted - shares - PAPER_SHARES)]
    found += [f"missing LTD clean RSUM {n}" for n in ltd if n not in text]
    return found + ([] if "seeds 5" in text else ["does not say it quotes seeds 5-9"])


def test_the_headline_quotes_the_confirmatory_runs_only() -> None:
    assert problems(headline(), *confirmatory_numbers()) == []


def test_the_check_rejects_a_share_that_no_confirmatory_run_made() -> None:
    shares, ltd = {"70 %", "30 %"}, ["46.4", "133.4"]
    good = "seeds 5-9: 70 % and 30 % (the paper's CLIP 36 %); LTD 46.4 to 133.4"
    assert problems(good, shares, ltd) == []
    assert problems(good + "; from scratch 8 %", shares, ltd) == ["share not from the confirmatory runs: 8 %"]
    assert problems(good.replace("133.4", "140.0"), shares, ltd) == ["missing LTD clean RSUM 133.4"]

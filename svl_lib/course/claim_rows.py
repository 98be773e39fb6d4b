"""Notebook 07's verdict rows, each as its protocol says (:mod:`svl_lib.experiments.protocols`): the runs it
compares, paired by seed where they share seeds (and so their initialisation and start), every
interval at its family's Bonferroni level (:func:`svl_lib.course.intervals.family_level`), and the rule of
:mod:`svl_lib.course.claims` with the protocol's thresholds.

:func:`stage_tables` reads the committed results of one stage (``exploratory``: seeds 0-4;
``confirmatory``: the fresh seeds 5-9); :func:`course_verdicts` judges every row run in that stage;
:func:`verdicts_side_by_side` shows both stages, a row whose results were made under another
protocol as "stale: re-run".
"""
from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable

import pandas as pd

from . import claims as rules
from .verdicts import Verdict, combine, verdict_table
from .intervals import family_level
from .course_claims import LTD, PLAIN, paired, paper_side, seeded, variant, within_bound
from .trial_rows import TRIAL_ROWS
from ..experiments.protocols import SELECTING, Protocol, protocols
from ..experiments.results import grid_results

STALE = "stale: re-run"
Tables = dict[str, pd.DataFrame]


def stage_tables(stage: str, seeds: int | None = None, extra: Iterable[str] = ()) -> Tables:
    """The committed results of every grid a protocol of ``stage`` reads, and of the ``extra``
    grids (shown beside the verdicts, judged by none), with a ``variant`` column; a grid without
    results in that stage is left out (its rows are "not testable here"). ``seeds`` keeps each
    grid's first seeds only."""
    names = dict.fromkeys([*(g for p in protocols().values() if stage in p.stages for g in p.grids), *extra])
    tables = {}
    for name in names:
        try:
            table = grid_results(name, stage)
        except ValueError:  # not run in this stage
            continue
        if seeds is not None:
            table = table[table["seed"].isin(sorted(table["seed"].unique())[:seeds])]
        tables[name] = table.assign(variant=table.apply(variant, axis=1))
    return tables


def _kind(table: pd.DataFrame, kind: str, condition: str = "clean") -> pd.Series:
    return seeded(table, condition=condition, variant=kind)


def _chance(table: pd.DataFrame) -> float:
    return float(table["chance_rsum"].iloc[0])


def _one_sided(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    parts = []
    for name in p.grids:
        for side in ("image-only", "caption-only"):
            clean, one = paired(_kind(t[name], "clean"), _kind(t[name], side))
            parts.append(rules.one_sided_no_harm(clean, one, paired=True, level=level, **th))
    return combine(parts, "settings and sides")


def _used(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    return combine([rules.shortcut_used(_kind(t[n], "unique", "shortcut").tolist(), **th) for n in p.grids])


def _collapse(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    parts = []
    for name in p.grids:
        table = t[name]
        clean, unique, short = paired(_kind(table, "clean"), _kind(table, "unique"), _kind(table, "unique", "shortcut"))
        parts.append(rules.clean_collapse(clean, unique, short, _chance(table), paired=True, level=level, **th))
    return parts[0] if len(parts) == 1 else combine(parts)


def _zero_shot(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    table = t[p.grids[0]]
    if "start_rsum" not in table:
        return Verdict("not testable here", "these runs did not record their start's scores", "", "0 seeds")
    start = seeded(table, "start_rsum", variant="unique")
    start_clean, tuned, short = paired(start, _kind(table, "unique"), _kind(table, "unique", "shortcut"))
    return rules.ends_below_start(start_clean, tuned, short, paired=True, level=level, **th)


def _bits(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    table = t[p.grids[0]]
    wide = table.pivot_table(index=["n_bits", "seed"], columns="condition", values="rsum").reset_index()
    return rules.bits_trend(wide["n_bits"].tolist(), wide["clean"].tolist(), wide["shortcut"].tolist(), **th)


def _helps(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    """A claims grid's mitigation (the row id names it: ``5-ltd-…`` or ``5-ifm-…``)."""
    table, method = t[p.grids[0]], "LTD" if p.id.startswith("5-ltd") else "IFM"
    series = [_kind(table, "unique"), _kind(table, f"unique + {method}"), _kind(table, "unique", "shortcut"),
              _kind(table, f"unique + {method}", "shortcut"), _kind(table, "clean")]
    return rules.mitigation_helps(*paired(*series), _chance(table), paired=True, level=level, **th)


def _helps_within_bound(reference: pd.DataFrame, mitigated: pd.DataFrame, fields: dict, level: float,
                        eta: float, th: dict) -> Verdict:
    """LTD runs within their bound ``eta`` against the references of the same seeds."""
    if "ltd_rec_constraint" not in mitigated:
        return Verdict("not testable here", "these runs did not record the L_rec their constraint bounds "
                       "(ltd_rec_constraint), so none can be counted as within its bound", "", "0 seeds")
    reached = within_bound(mitigated, eta)
    series = [seeded(reference, **fields, **PLAIN), seeded(reached, **fields, **LTD),
              seeded(reference, condition="shortcut", **fields, **PLAIN),
              seeded(reached, condition="shortcut", **fields, **LTD),
              seeded(reference, shortcut_mode="none", **fields)]
    return rules.mitigation_helps(*paired(*series), _chance(reference), paired=True, level=level, **th)


def _ltd_paper(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    length = t["trial_ltd_length"]
    return _helps_within_bound(t["trial_paper_ltd"], length[length["ltd_target_caption"] == "as_fed"], {},
                               level, p.thresholds["eta"], th)


def _ltd_course(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    paper = t["trial_paper_ltd"]
    return _helps_within_bound(paper, paper, {}, level, p.thresholds["eta"], th)


def _ltd_large(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    memo = t["trial_memorisation"]
    return _helps_within_bound(memo, memo, {"n_train": 5000}, level, p.thresholds["eta"], th)


def _ifm_stop(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    table = t[p.grids[0]]
    series = [_kind(table, "unique"), _kind(table, "unique + IFM"), _kind(table, "unique", "shortcut"),
              _kind(table, "clean")]
    return rules.mitigation_does_not_stop(*paired(*series), _chance(table), **th)


def _reliance(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    parts = []
    for name in p.grids:
        ltd, ifm = paired(_kind(t[name], "unique + LTD", "shortcut"), _kind(t[name], "unique + IFM", "shortcut"))
        parts.append(rules.reliance_cut_more(ltd, ifm, "LTD", "IFM", paired=True, level=level, **th))
    return combine(parts)


def _start(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    names = {"claims_finetune": "fine-tuned", "control_scratch_matched": "from scratch, same steps",
             "control_shortcut_start": "fine-tuned from a shortcut start"}
    samples = []
    for name in p.grids:
        samples += paired(_kind(t[name], "clean"), _kind(t[name], "unique"), _kind(t[name], "unique", "shortcut"))
    return rules.share_kept_higher(*samples, *(names[g] for g in p.grids), level=level, **th)


def _length(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    """L1 (as-fed targets) and L2 (clean targets): the runs within eta 0.05 against eta 0.4."""
    target = "as_fed" if p.id == "L1" else "clean"
    tight_table = t["trial_ltd_length"] if target == "as_fed" else t["trial_paper_ltd"]
    length = t["trial_ltd_length"]
    tight = seeded(within_bound(tight_table, p.thresholds["eta"]), ltd_target_caption=target)
    loose = seeded(length, ltd_target_caption=target, ltd_bound=0.4)
    a, b = paired(loose, tight)
    return rules.rises(a, b, "clean RSUM", "eta 0.4 (loose)", f"eta {p.thresholds['eta']} (within it)",
                       paired=True, level=level, **th)


def _memorised(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    memo = t["trial_memorisation"]
    if "ltd_rec_train_shortcut" not in memo:
        return Verdict("not testable here", "these runs did not record L_rec with the digits", "", "0 seeds")
    parts = []
    for fields in (dict(n_train=1000, ltd="constrained"), dict(n_train=5000, ltd="constrained")):
        get = {c: seeded(memo, f"ltd_rec_{c}", **fields) for c in ("train", "train_shortcut", "test", "test_shortcut")}
        gain_train = get["train"] - get["train_shortcut"]  # what the digits save on training captions
        gain_test = get["test"] - get["test_shortcut"]
        a, b = paired(gain_test, gain_train)
        parts.append(rules.rises(a, b, f"the digits' gain in L_rec ({fields['n_train']:,} images)",
                                 "held-out captions", "training captions", paired=True, level=level, **th))
    return combine(parts, "decoder settings")


ROWS: dict[str, Callable[[Protocol, Tables, float, dict], Verdict]] = {
    "2": _one_sided, "3a": _used, "3b-clip": _collapse, "3b-vse": _collapse, "3c": _zero_shot, "4": _bits,
    **{f"5-{m}-{s}": _helps for m in ("ltd", "ifm") for s in ("finetune", "image_tower", "scratch")},
    "5-ltd-paper": _ltd_paper, "5-ltd-course": _ltd_course, "5-ltd-large": _ltd_large, "5-ifm-stop": _ifm_stop,
    "6": _reliance, "S1": _start, "S2": _start, "L1": _length, "L2": _length, "T7": _memorised,
    **TRIAL_ROWS,
}


def label(p: Protocol) -> str:
    return f"{p.id}. {p.claim}"


def course_verdicts(tables: Tables, stage: str) -> dict[str, Verdict]:
    """The verdict of every protocol row run in ``stage``, on ``tables`` (:func:`stage_tables`, or
    recomputed runs of the same grids), keyed by :func:`label`."""
    verdicts = {}
    for p in protocols().values():
        if stage not in p.stages:
            continue
        missing = [g for g in p.grids if g not in tables]
        if missing:
            verdicts[label(p)] = Verdict("not testable here", f"no {stage} runs of {', '.join(missing)}", "",
                                         "0 seeds")
            continue
        th = {k: v for k, v in p.thresholds.items() if k not in SELECTING}
        verdicts[label(p)] = ROWS[p.id](p, tables, family_level(p.family_tests()), th)
    return verdicts


def stale_rows(tables: Tables, stage: str) -> set[str]:
    """The labels of the rows of ``stage`` that read a table made under another protocol."""
    return {label(p) for p in protocols().values() if stage in p.stages
            and any(tables[g].attrs.get("stale", False) for g in p.grids if g in tables)}


def verdicts_side_by_side(exploratory: Tables, confirmatory: Tables) -> pd.DataFrame:
    """One short row per claim (index: the protocol's row id): the claim, the paper's side (COCO),
    the exploratory verdict (seeds 0-4) and the confirmatory one (fresh seeds 5-9), "—" where a row
    was not run in a stage and "stale: re-run" where its results were made under another protocol."""
    columns = {}
    for stage, tables in (("exploratory", exploratory), ("confirmatory", confirmatory)):
        stale = stale_rows(tables, stage)
        columns[stage] = {claim: STALE if claim in stale else v.verdict
                          for claim, v in course_verdicts(tables, stage).items()}
    rows = [{"row": p.id, "claim": p.claim, "paper (COCO)": paper_side(p.id),
             **{s: columns[s].get(label(p), "—") for s in columns}} for p in protocols().values()]
    return pd.DataFrame(rows).set_index("row")


def reasons(tables: Tables, stage: str, ids: Iterable[str] | None = None) -> pd.DataFrame:
    """The numbers behind each verdict of ``stage`` (of the rows ``ids`` only, where given): one
    row per claim with its reason, precondition and seeds (a stale row says so instead)."""
    stale = stale_rows(tables, stage)
    verdicts = course_verdicts(tables, stage)
    if ids is not None:
        keep = {label(protocols()[i]) for i in ids}
        verdicts = {claim: v for claim, v in verdicts.items() if claim in keep}
    table = verdict_table(verdicts)
    table.loc[table.index.isin(stale), ["verdict", "reason"]] = [STALE, "made under another protocol"]
    return table


def _top_level_parts(text: str) -> list[str]:
    """``text`` split at the "; " that lie outside parentheses and brackets."""
    parts, depth, start = [], 0, 0
    for i, char in enumerate(text):
        depth += (char in "([") - (char in ")]")
        if depth == 0 and text.startswith("; ", i):
            parts.append(text[start:i])
            start = i + 2
    return parts + [text[start:]]


def reasons_text(tables: Tables, stage: str, width: int = 100, rows: Iterable[str] | None = None) -> str:
    """:func:`reasons` (of the row ids ``rows`` only, where given) as lines of at most ``width``
    characters: per claim, ``row <id>: <verdict>``, then its reason (a combined row's verdicts one
    per line, after its count) and precondition."""
    ids = {label(p): p.id for p in protocols().values()}
    lines = []
    for claim, row in reasons(tables, stage, rows).iterrows():
        lines.append(textwrap.fill(f"row {ids[claim]}: {row.verdict}  ({claim.split('. ', 1)[1]})", width,
                                   subsequent_indent="      "))
        head, _, rest = row.reason.partition(": ") if " agree: " in row.reason else ("", "", row.reason)
        if head:
            lines.append(textwrap.fill(head + ":", width, initial_indent="    ", subsequent_indent="    "))
        for part in _top_level_parts(rest) if head else [rest]:
            lines.append(textwrap.fill(part, width, initial_indent="    - " if head else "    ",
                                       subsequent_indent="      " if head else "    "))
        if row.precondition:
            lines.append(textwrap.fill(f"precondition: {row.precondition}", width,
                                       initial_indent="    ", subsequent_indent="      "))
    return "\n".join(lines)

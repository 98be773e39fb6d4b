"""Notebook 07's trial rows (T1-T6 of :mod:`svl_lib.experiments.protocols`, run on the fresh seeds
5-9): each trial's explanation as :func:`svl_lib.course.claims.rises` of a paired comparison, or of
several combined (:func:`svl_lib.course.verdicts.combine`) over the settings whose precondition holds
(T3: clean RSUM above 3 x chance without a mitigation; T4: the caption probe below the protocol's
bound). :data:`TRIAL_ROWS` maps each row id to its judge, read by :mod:`svl_lib.course.claim_rows`.
"""
from __future__ import annotations

from collections.abc import Callable

import pandas as pd

from . import claims as rules
from .verdicts import Verdict, combine
from .course_claims import LTD, PLAIN, paired, seeded
from ..experiments.protocols import Protocol

Tables = dict[str, pd.DataFrame]


def _rise(a: pd.Series, b: pd.Series, quantity: str, name_a: str, name_b: str, level: float, th: dict) -> Verdict:
    """:func:`svl_lib.course.claims.rises` of ``b`` over ``a``, paired on the seeds both have."""
    return rules.rises(*paired(a, b), quantity, name_a, name_b, paired=True, level=level, **th)


def _parts(parts: list[Verdict], claim_parts: str, none_left: str) -> Verdict:
    """One verdict over the comparisons whose precondition holds (:func:`svl_lib.course.verdicts.combine`);
    "not testable here" with ``none_left`` where no comparison is left."""
    if not parts:
        return Verdict("not testable here", none_left, "", "0 seeds")
    return parts[0] if len(parts) == 1 else combine(parts, claim_parts)


def clipping(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    """T1: LTD's runs clipped per tower against claims_scratch's, clipped jointly."""
    joint, per_tower = (seeded(t[name], variant="unique + LTD") for name in ("claims_scratch", "trial_clipping"))
    return _rise(joint, per_tower, "clean RSUM with LTD", "joint clipping", "per-tower clipping", level, th)


def warmup(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    """T2's fine-tuned half: LTD with its decoder warmed up against no LTD, from the same starts."""
    table = t["trial_decoder_warmup"]
    warm = dict(PLAIN, ltd="unconstrained", ltd_decoder_warmup=int(table["ltd_decoder_warmup"].max()))
    return _rise(seeded(table, **PLAIN), seeded(table, **warm), "clean RSUM (fine-tuned)", "no LTD",
                 f"LTD, decoder warmed up {warm['ltd_decoder_warmup']} steps", level, th)


HEADROOM = {"bits, n_bits 4": dict(shortcut_mode="bits", n_bits=4),
            "bits, n_bits 6": dict(shortcut_mode="bits", n_bits=6),
            "unique, p 0.5": dict(shortcut_mode="unique", shortcut_p=0.5),
            "unique, p 0.75": dict(shortcut_mode="unique", shortcut_p=0.75)}
MITIGATIONS = {"LTD": dict(ltd="constrained"), "IFM": dict(ifm_epsilon=0.1)}


def headroom(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    """T3-clean: per setting above 3 x chance without a mitigation, LTD and IFM against none."""
    table, parts, left_out = t["trial_headroom"], [], []
    floor = 3 * float(table["chance_rsum"].iloc[0])
    for name, shortcut in HEADROOM.items():
        plain = dict(shortcut, ltd="none", ifm_epsilon=0.0)
        without = seeded(table, **plain)
        if without.mean() <= floor:
            left_out.append(f"{name} ({without.mean():.1f})")
            continue
        for method, change in MITIGATIONS.items():
            parts.append(_rise(without, seeded(table, **{**plain, **change}), f"clean RSUM ({name})", "none",
                               method, level, th))
    verdict = _parts(parts, "comparisons", f"no setting's clean RSUM is above 3 x chance ({floor:.1f})")
    note = f"left out, at most 3 x chance {floor:.1f}: {', '.join(left_out)}" if left_out else \
        f"every setting above 3 x chance {floor:.1f}"
    return Verdict(verdict.verdict, verdict.reason, note, verdict.seeds)


def headroom_cut(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    table = t["trial_headroom"]
    parts = [_rise(seeded(table, condition="shortcut", **shortcut, **MITIGATIONS["LTD"]),
                   seeded(table, condition="shortcut", **shortcut, ltd="none", ifm_epsilon=0.0),
                   f"RSUM with the shortcut ({name})", "LTD", "none", level, th)
             for name, shortcut in HEADROOM.items()]
    return combine(parts, "settings")


def caption_side(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    """T4: per embed_dim whose unique model's caption probe is below the protocol's bound."""
    table, bound = t["trial_caption_side"], p.thresholds["caption_probe_below"]
    parts, probes = [], []
    for dim in sorted(table["embed_dim"].unique()):
        probe = seeded(table, "probe_caption", embed_dim=dim, **PLAIN).mean()
        probes.append(f"embed_dim {dim}: caption probe {probe:.1f} % {'<' if probe < bound else '>='} {bound:g} %")
        if probe < bound:
            parts.append(_rise(seeded(table, embed_dim=dim, **PLAIN), seeded(table, embed_dim=dim, **LTD),
                               f"clean RSUM (embed_dim {dim})", "unique", "unique + LTD", level, th))
    verdict = _parts(parts, "embedding sizes", f"no caption probe is below {bound:g} %")
    return Verdict(verdict.verdict, verdict.reason, "; ".join(probes), verdict.seeds)


def image_side(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    """T5a against no LTD, T5b against caption-side LTD (claims_scratch's runs of the same seeds)."""
    against = "unique" if p.id == "T5a" else "unique + LTD"
    decoded = seeded(t["trial_image_side_ltd"], **dict(LTD, ltd_side="image"))
    return _rise(seeded(t["claims_scratch"], variant=against), decoded,
                 "clean RSUM", "no LTD" if p.id == "T5a" else "caption-side LTD", "image-side LTD", level, th)


def caption_only(p: Protocol, t: Tables, level: float, th: dict) -> Verdict:
    """T6a: the caption-only harm (caption-only minus clean) mean-pooled against last-token;
    T6b: the mean-pooled GRU's clean RSUM above its caption-only one."""
    mean = t["trial_caption_only"]
    if p.id == "T6b":
        return _rise(seeded(mean, variant="caption-only"), seeded(mean, variant="clean"),
                     "clean RSUM (mean-pooled GRU)", "caption-only shortcut", "no shortcut", level, th)
    last = t["claims_scratch"]
    harm_last, harm_mean = (seeded(x, variant="caption-only") - seeded(x, variant="clean") for x in (last, mean))
    return _rise(harm_last, harm_mean, "change of clean RSUM with a caption-only shortcut", "last-token GRU",
                 "mean-pooled GRU", level, th)


TRIAL_ROWS: dict[str, Callable[[Protocol, Tables, float, dict], Verdict]] = {
    "T1": clipping, "T2-finetune": warmup, "T3-clean": headroom, "T3-cut": headroom_cut, "T4": caption_side,
    "T5a": image_side, "T5b": image_side, "T6a": caption_only, "T6b": caption_only,
}

"""The paper's claims as rules: per-seed RSUM values in, a :class:`~svl_lib.course.verdicts.Verdict` out.

A verdict says what *these numbers* show about one claim, never whether the claim is true. Each rule
is a pure function on lists of per-seed RSUM values (one value per seed of one setting) and returns
one of :data:`~svl_lib.course.verdicts.VERDICTS`:

- ``"agree"``: the numbers show the claim;
- ``"partly"``: the claim has two parts and exactly one holds;
- ``"not shown"``: the numbers do not show the claim, including intervals too wide to tell;
- ``"not testable here"``: a precondition fails (the setting never used the shortcut, nothing
  collapsed, nothing to recover) or there are too few seeds.

Every verdict states the numbers that decided (``reason``), the precondition it needed and whether
it held (``precondition``, ``""`` where there is none) and the seeds it stood on (``seeds``).
Differences between settings are intervals, never bare means (:mod:`svl_lib.course.intervals`): paired
where the two settings share their seeds, Welch's otherwise. A rule takes ``paired`` and the
interval's ``level`` (a family's, :func:`svl_lib.course.intervals.family_level`).
"Chance" is the RSUM of random rankings; a clean RSUM below 3 x chance counts as collapsed.
"""
from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
from scipy import stats

from .intervals import difference, seed_values, welch_difference
from .verdicts import Verdict

def uses_shortcut(shortcut_rsum: Sequence[float], threshold: float = 500.0) -> bool:
    """Whether a setting uses the shortcut: its mean RSUM with the shortcut is at least ``threshold``."""
    return bool(seed_values(shortcut_rsum, "shortcut_rsum").mean() >= threshold)


def _seeds(*samples: Sequence[float]) -> str:
    """'3 seeds' when every sample has 3 values, '3 and 5 seeds' when they differ."""
    counts = [str(n) for n in sorted({len(s) for s in samples})]
    joined = counts[0] if len(counts) == 1 else ", ".join(counts[:-1]) + " and " + counts[-1]
    return f"{joined} seeds"


def _too_few(min_seeds: int, **samples: Sequence[float]) -> Verdict | None:
    """A "not testable here" verdict when any sample has fewer than ``min_seeds`` values."""
    if min_seeds < 2:
        raise ValueError(f"min_seeds must be at least 2 (a single seed gives no interval), got {min_seeds}")
    counts = {name: np.asarray(sample, dtype=float).size for name, sample in samples.items()}
    short = [f"{name} has {n}" for name, n in counts.items() if n < min_seeds]
    if not short:
        return None
    seeds = _seeds(*samples.values())
    return Verdict("not testable here", f"too few seeds: {', '.join(short)} (needs {min_seeds})",
                   f"at least {min_seeds} seeds per setting: fails", seeds)


def _mean(sample: Sequence[float]) -> float:
    return float(np.mean(sample))


def _at_chance(chance: float) -> float:
    """3 x ``chance``: below it a clean RSUM counts as collapsed."""
    if not (math.isfinite(chance) and chance > 0):
        raise ValueError(f"chance must be the positive RSUM of random rankings (1.8 on a 1k test), got {chance}")
    return 3 * chance


def one_sided_no_harm(clean: Sequence[float], one_sided: Sequence[float], margin: float = 0.10,
                      min_seeds: int = 3, paired: bool = False, level: float = 0.95) -> Verdict:
    """Claim 2, a shortcut on one side only does no harm: the clean RSUM of the one-sided run minus
    that of the clean run is above -``margin`` x mean(clean), all of its interval."""
    if (early := _too_few(min_seeds, clean=clean, one_sided=one_sided)) is not None:
        return early
    diff, bound = difference(clean, one_sided, paired, level), -margin * _mean(clean)
    seeds = _seeds(clean, one_sided)
    text = f"one-sided minus clean RSUM {diff}, harm bound {bound:.1f} ({margin * 100:g} % of clean)"
    if diff.low >= bound:
        return Verdict("agree", f"{text}: no harm beyond the bound", "", seeds)
    return Verdict("not shown", f"{text}: {'harm' if diff.high < bound else 'inconclusive'}", "", seeds)


def _shortcut_precondition(shortcut_rsum: Sequence[float], threshold: float) -> tuple[bool, str]:
    held = uses_shortcut(shortcut_rsum, threshold)
    return held, f"shortcut RSUM {_mean(shortcut_rsum):.1f} >= {threshold:g}: {'holds' if held else 'fails'}"


def shortcut_used(shortcut_rsum: Sequence[float], threshold: float = 500.0, min_seeds: int = 3) -> Verdict:
    """Claim 3a, with unique shortcuts the model uses the shortcut: its mean RSUM with the shortcut is
    at least ``threshold`` (the paper's models reach about 600)."""
    if (early := _too_few(min_seeds, shortcut_rsum=shortcut_rsum)) is not None:
        return early
    held, text = _shortcut_precondition(shortcut_rsum, threshold)
    return Verdict("agree" if held else "not shown", text, "", _seeds(shortcut_rsum))


def clean_collapse(clean_baseline: Sequence[float], clean_shortcut: Sequence[float],
                   shortcut_rsum: Sequence[float], chance: float, kind: str,
                   threshold: float = 500.0, min_seeds: int = 3, paired: bool = False,
                   level: float = 0.95) -> Verdict:
    """Claim 3b: training with a unique shortcut lowers the clean RSUM significantly (interval below
    0), to about zero for VSE++ (``kind="full"``: below 3 x chance; a significant loss that stays
    above it is "partly") and part of the way for CLIP (``kind="partial"``: a significant loss that
    stays at or above 3 x chance; below it, "partly"). Counts only where the setting uses the
    shortcut (``shortcut_rsum``, :func:`uses_shortcut`)."""
    if kind not in ("full", "partial"):
        raise ValueError(f"kind must be 'full' (VSE++) or 'partial' (CLIP), got {kind!r}")
    if (early := _too_few(min_seeds, clean_baseline=clean_baseline, clean_shortcut=clean_shortcut,
                          shortcut_rsum=shortcut_rsum)) is not None:
        return early
    held, precondition = _shortcut_precondition(shortcut_rsum, threshold)
    seeds = _seeds(clean_baseline, clean_shortcut, shortcut_rsum)
    if not held:
        return Verdict("not testable here", f"the setting does not use the shortcut (shortcut RSUM "
                       f"{_mean(shortcut_rsum):.1f}), so no collapse can be read from it", precondition, seeds)
    diff, floor = difference(clean_baseline, clean_shortcut, paired, level), _at_chance(chance)
    lost, at_chance = diff.high < 0, _mean(clean_shortcut) < floor
    text = (f"clean RSUM {_mean(clean_shortcut):.1f} with the shortcut vs {_mean(clean_baseline):.1f} "
            f"without (difference {diff}; 3 x chance = {floor:.1f})")
    if kind == "full":
        verdict = "not shown" if not lost else "agree" if at_chance else "partly"
    else:
        verdict = "not shown" if not lost else "partly" if at_chance else "agree"
    return Verdict(verdict, text, precondition, seeds)


def _rho(n_bits: np.ndarray, values: np.ndarray) -> float:
    """Spearman's rho of ``values`` with ``n_bits``; nan where ``values`` is constant."""
    return float("nan") if np.ptp(values) == 0 else float(stats.spearmanr(n_bits, values).statistic)


def bits_trend(n_bits: Sequence[int], clean: Sequence[float], shortcut: Sequence[float],
               min_rho: float = 0.7, min_seeds: int = 1) -> Verdict:
    """Claim 4: more shortcut bits, lower clean RSUM and higher shortcut RSUM, read as Spearman rank
    correlations of the per-point means with ``n_bits`` (at most -``min_rho`` and at least
    ``min_rho``); curves may dip. One value per run: an ``n_bits`` value repeats once per seed, and
    every point needs at least ``min_seeds`` runs."""
    bits, down, up = seed_values(n_bits, "n_bits"), seed_values(clean, "clean"), seed_values(shortcut, "shortcut")
    if not bits.size == down.size == up.size:
        raise ValueError(f"n_bits, clean and shortcut need one value per run each, got "
                         f"{bits.size}, {down.size} and {up.size}")
    points, counts = np.unique(bits, return_counts=True)
    seeds = f"{points.size} points (n_bits {bits.min():g}-{bits.max():g}), {counts.min()}-{counts.max()} seeds each"
    if points.size < 4:
        return Verdict("not testable here", f"only {points.size} distinct n_bits values",
                       "at least 4 distinct n_bits: fails", seeds)
    if counts.min() < min_seeds:
        return Verdict("not testable here", f"a point has {counts.min()} seeds (needs {min_seeds})",
                       f"at least {min_seeds} seeds per point: fails", seeds)
    down_mean = np.array([down[bits == b].mean() for b in points])
    up_mean = np.array([up[bits == b].mean() for b in points])
    rho_clean, rho_shortcut = _rho(points, down_mean), _rho(points, up_mean)
    falls, rises_ = rho_clean <= -min_rho, rho_shortcut >= min_rho
    verdict = "agree" if falls and rises_ else "partly" if falls or rises_ else "not shown"
    return Verdict(verdict, f"Spearman rho with n_bits of the per-point means: clean {rho_clean:.2f} "
                   f"(needs <= {-min_rho:g}), shortcut {rho_shortcut:.2f} (needs >= {min_rho:g})", "", seeds)


def mitigation_helps(clean_without: Sequence[float], clean_with: Sequence[float],
                     shortcut_without: Sequence[float], shortcut_with: Sequence[float],
                     clean_baseline: Sequence[float], chance: float, threshold: float = 500.0,
                     min_seeds: int = 5, paired: bool = False, level: float = 0.95) -> Verdict:
    """Claim 5, a mitigation helps: in the shortcut-trained setting, the clean RSUM with the
    mitigation is above the one without (interval above 0). It helps *partly* (the paper's claim:
    "partly reduces shortcut learning") where the mitigated model still uses the shortcut or its
    clean RSUM stays below ``clean_baseline`` (interval of with minus baseline below 0); it agrees
    in full where neither holds. Precondition: the run without it uses the shortcut and lost clean
    RSUM against ``clean_baseline`` (something to recover)."""
    samples = dict(clean_without=clean_without, clean_with=clean_with, shortcut_without=shortcut_without,
                   shortcut_with=shortcut_with, clean_baseline=clean_baseline)
    if (early := _too_few(min_seeds, **samples)) is not None:
        return early
    seeds, floor = _seeds(*samples.values()), _at_chance(chance)
    uses, first = _shortcut_precondition(shortcut_without, threshold)
    loss = difference(clean_baseline, clean_without, paired, level)
    precondition = (f"without the mitigation, {first}; clean RSUM below the baseline ({loss}): "
                    f"{'holds' if loss.high < 0 else 'fails'}")
    if not uses or loss.high >= 0:
        failed = "does not use the shortcut" if not uses else "lost no clean RSUM: nothing to recover"
        return Verdict("not testable here", f"the run without the mitigation {failed}", precondition, seeds)
    clean = difference(clean_without, clean_with, paired, level)
    shortcut = difference(shortcut_without, shortcut_with, paired, level)
    short_of = difference(clean_baseline, clean_with, paired, level)
    at_chance = " (still below 3 x chance)" if _mean(clean_with) < floor else ""
    text = f"with minus without: clean RSUM {clean}{at_chance}, shortcut RSUM {shortcut}"
    if clean.low <= 0:
        return Verdict("not shown", f"{text}: clean RSUM does not rise", precondition, seeds)
    still_uses, below = uses_shortcut(shortcut_with, threshold), short_of.high < 0
    gaps = [f"still uses the shortcut ({_mean(shortcut_with):.1f} >= {threshold:g})"] * still_uses + [
        f"clean RSUM below the reference without a shortcut ({short_of})"] * below
    if gaps:
        return Verdict("partly", f"{text}: clean RSUM rises, but the model {' and '.join(gaps)}",
                       precondition, seeds)
    return Verdict("agree", f"{text}: clean RSUM rises to the reference and the shortcut is no longer "
                   f"used", precondition, seeds)


def mitigation_does_not_stop(clean_without: Sequence[float], clean_with: Sequence[float],
                             shortcut_without: Sequence[float], clean_baseline: Sequence[float],
                             chance: float, threshold: float = 500.0, min_seeds: int = 5) -> Verdict:
    """A mitigation (IFM on VSE++) does not stop the collapse: where the unmitigated run collapses onto
    the shortcut (uses it, clean RSUM below 3 x chance), the mitigated one stays below 3 x chance."""
    samples = dict(clean_without=clean_without, clean_with=clean_with, shortcut_without=shortcut_without,
                   clean_baseline=clean_baseline)
    if (early := _too_few(min_seeds, **samples)) is not None:
        return early
    seeds, floor = _seeds(*samples.values()), _at_chance(chance)
    uses, first = _shortcut_precondition(shortcut_without, threshold)
    collapsed = _mean(clean_without) < floor
    precondition = (f"without the mitigation, {first}; clean RSUM {_mean(clean_without):.1f} < 3 x chance "
                    f"{floor:.1f}: {'holds' if collapsed else 'fails'}")
    if not (uses and collapsed):
        return Verdict("not testable here", "nothing collapses onto a shortcut here", precondition, seeds)
    text = (f"clean RSUM with the mitigation {_mean(clean_with):.1f} (baseline {_mean(clean_baseline):.1f}, "
            f"3 x chance {floor:.1f})")
    stays = _mean(clean_with) < floor
    outcome = "the collapse remains" if stays else "the mitigation lifts it off chance"
    return Verdict("agree" if stays else "not shown", f"{text}: {outcome}", precondition, seeds)


def reliance_cut_more(shortcut_a: Sequence[float], shortcut_b: Sequence[float], name_a: str, name_b: str,
                      min_seeds: int = 5, paired: bool = False, level: float = 0.95) -> Verdict:
    """Reliance on the shortcut (RSUM with it) is cut more by ``name_a`` than by ``name_b``: the
    interval of mean(a) - mean(b) lies below 0."""
    if name_a == name_b:
        raise ValueError(f"name_a and name_b must name two different mitigations, got {name_a!r} twice")
    if (early := _too_few(min_seeds, **{name_a: shortcut_a, name_b: shortcut_b})) is not None:
        return early
    diff = difference(shortcut_b, shortcut_a, paired, level)
    text = f"shortcut RSUM {name_a} minus {name_b}: {diff}"
    outcome = f"{name_a} cuts it more" if diff.high < 0 else f"not lower with {name_a}"
    return Verdict("agree" if diff.high < 0 else "not shown", f"{text}: {outcome}", "",
                   _seeds(shortcut_a, shortcut_b))


def rises(a: Sequence[float], b: Sequence[float], quantity: str, name_a: str, name_b: str,
          min_seeds: int = 5, paired: bool = False, level: float = 0.95) -> Verdict:
    """``quantity`` is higher under ``name_b`` than under ``name_a``: the interval of mean(b) -
    mean(a) lies above 0 (e.g. LTD that reaches its bound against LTD as long with a loose one)."""
    if (early := _too_few(min_seeds, **{name_a: a, name_b: b})) is not None:
        return early
    diff = difference(a, b, paired, level)
    outcome = "higher" if diff.low > 0 else "not higher"
    return Verdict("agree" if diff.low > 0 else "not shown",
                   f"{quantity} {name_b} minus {name_a}: {diff}: {outcome} with {name_b}", "", _seeds(a, b))


def ends_below_start(start_clean: Sequence[float], tuned_clean: Sequence[float], tuned_shortcut: Sequence[float],
                     threshold: float = 500.0, min_seeds: int = 5, paired: bool = True,
                     level: float = 0.95) -> Verdict:
    """Claim 3c, CLIP's zero-shot half: fine-tuned with unique shortcuts, the model ends with a clean
    RSUM below its own start's (zero-shot) clean RSUM: the interval of tuned minus start lies below
    0. Seed i of both is the same start, so the comparison is paired by default. Counts only where
    the fine-tuned model uses the shortcut."""
    if (early := _too_few(min_seeds, start_clean=start_clean, tuned_clean=tuned_clean,
                          tuned_shortcut=tuned_shortcut)) is not None:
        return early
    held, precondition = _shortcut_precondition(tuned_shortcut, threshold)
    seeds = _seeds(start_clean, tuned_clean)
    if not held:
        return Verdict("not testable here", "the fine-tuned model does not use the shortcut", precondition, seeds)
    diff = difference(start_clean, tuned_clean, paired, level)
    text = (f"clean RSUM {_mean(tuned_clean):.1f} after fine-tuning with the shortcut vs {_mean(start_clean):.1f} "
            f"at the start (difference {diff})")
    below = diff.high < 0
    return Verdict("agree" if below else "not shown", f"{text}: {'below' if below else 'not below'} the start",
                   precondition, seeds)


def share_kept_higher(clean_a: Sequence[float], unique_a: Sequence[float], shortcut_a: Sequence[float],
                      clean_b: Sequence[float], unique_b: Sequence[float], shortcut_b: Sequence[float],
                      name_a: str, name_b: str, threshold: float = 500.0, min_seeds: int = 5,
                      level: float = 0.95) -> Verdict:
    """The course's reading of claim 3b, "a good start protects content": setting ``a`` keeps a
    larger share of its clean RSUM under unique shortcuts than setting ``b``. The share is
    unique / clean per seed (the two variants of one setting share that seed); the settings share
    no start, so the shares are compared with Welch's interval (a - b above 0). Counts only where
    both settings use the shortcut, and only when they trained equally long (the caller's grids)."""
    samples = dict(clean_a=clean_a, unique_a=unique_a, clean_b=clean_b, unique_b=unique_b)
    if (early := _too_few(min_seeds, **samples)) is not None:
        return early
    held_a, pre_a = _shortcut_precondition(shortcut_a, threshold)
    held_b, pre_b = _shortcut_precondition(shortcut_b, threshold)
    precondition, seeds = f"{name_a}: {pre_a}; {name_b}: {pre_b}", _seeds(*samples.values())
    if not (held_a and held_b):
        return Verdict("not testable here", "a setting that does not use the shortcut keeps its content "
                       "for another reason", precondition, seeds)
    share_a = 100 * seed_values(unique_a, "unique_a") / seed_values(clean_a, "clean_a")
    share_b = 100 * seed_values(unique_b, "unique_b") / seed_values(clean_b, "clean_b")
    diff = welch_difference(share_b, share_a, level)
    text = (f"share of clean RSUM kept: {name_a} {share_a.mean():.1f} %, {name_b} {share_b.mean():.1f} % "
            f"(difference {diff}, percentage points)")
    return Verdict("agree" if diff.low > 0 else "not shown",
                   f"{text}: {'more' if diff.low > 0 else 'not more'} with {name_a}", precondition, seeds)

"""The paper's claims as rules: per-seed RSUM values in, a :class:`Verdict` out.

A verdict says what *these numbers* show about one claim, never whether the claim is true. Each rule
is a pure function on lists of per-seed RSUM values (one value per seed of one setting) and returns
one of :data:`VERDICTS`:

- ``"agree"``: the numbers show the claim;
- ``"partly"``: the claim has two parts and exactly one holds;
- ``"not shown"``: the numbers do not show the claim, including intervals too wide to tell;
- ``"not testable here"``: a precondition fails (the setting never used the shortcut, nothing
  collapsed, nothing to recover) or there are too few seeds.

Every verdict states the numbers that decided (``reason``), the precondition it needed and whether
it held (``precondition``, ``""`` where there is none) and the seeds it stood on (``seeds``).
Differences between settings are Welch intervals (:func:`welch_difference`), never bare means.
"Chance" is the RSUM of random rankings; a clean RSUM below 3 x chance counts as collapsed.
"""
from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy import stats

VERDICTS = ("agree", "partly", "not shown", "not testable here")


@dataclass(frozen=True)
class Difference:
    """Welch's two-sample comparison: ``mean`` = mean(b) - mean(a), its ``level`` interval."""
    mean: float
    low: float
    high: float
    n_a: int
    n_b: int
    level: float

    def __str__(self) -> str:
        return (f"{self.mean:.1f} [{self.low:.1f}, {self.high:.1f}] "
                f"({self.level * 100:g} %, n={self.n_a}/{self.n_b})")


@dataclass(frozen=True)
class Verdict:
    """One claim's verdict (one of :data:`VERDICTS`), the sentence that decided it, its
    precondition (``""`` if none) and its seeds."""
    verdict: str
    reason: str
    precondition: str
    seeds: str

    def __post_init__(self) -> None:
        if self.verdict not in VERDICTS:
            raise ValueError(f"verdict {self.verdict!r} is not one of {VERDICTS}")


def _values(sample: Sequence[float], name: str) -> np.ndarray:
    """``sample`` as a 1-D float array of finite values, or a ValueError naming ``name``."""
    values = np.asarray(sample, dtype=float)
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"{name} must be a non-empty list of finite numbers (one per seed), got {sample!r}")
    return values


def welch_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Difference:
    """mean(b) - mean(a) with the Welch-Satterthwaite t interval at ``level``. Needs at least two
    values on each side; where both samples are constant the interval collapses to the mean."""
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")
    x, y = _values(a, "a"), _values(b, "b")
    for side, values in (("a", x), ("b", y)):
        if values.size < 2:
            raise ValueError(f"Welch's interval needs at least 2 values on each side; {side} has "
                             f"{values.size}: run more seeds")
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    mean = float(y.mean() - x.mean())
    if va + vb == 0:
        return Difference(mean, mean, mean, x.size, y.size, level)
    df = (va + vb) ** 2 / (va ** 2 / (x.size - 1) + vb ** 2 / (y.size - 1))
    half = float(stats.t.ppf((1 + level) / 2, df) * math.sqrt(va + vb))
    return Difference(mean, mean - half, mean + half, x.size, y.size, level)


def uses_shortcut(shortcut_rsum: Sequence[float], threshold: float = 500.0) -> bool:
    """Whether a setting uses the shortcut: its mean RSUM with the shortcut is at least ``threshold``."""
    return bool(_values(shortcut_rsum, "shortcut_rsum").mean() >= threshold)


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
                      min_seeds: int = 3) -> Verdict:
    """Claim 2, a shortcut on one side only does no harm: the clean RSUM of the one-sided run minus
    that of the clean run is above -``margin`` x mean(clean), all of its interval."""
    if (early := _too_few(min_seeds, clean=clean, one_sided=one_sided)) is not None:
        return early
    diff, bound = welch_difference(clean, one_sided), -margin * _mean(clean)
    seeds = _seeds(clean, one_sided)
    text = f"one-sided minus clean RSUM {diff}, harm bound {bound:.1f} ({margin * 100:g} % of clean)"
    if diff.low >= bound:
        return Verdict("agree", f"{text}: no harm beyond the bound", "", seeds)
    return Verdict("not shown", f"{text}: {'harm' if diff.high < bound else 'inconclusive'}", "", seeds)


def combine(verdicts: Sequence[Verdict], claim_parts: str = "settings") -> Verdict:
    """One verdict for a claim tested in several ``claim_parts``: all agree -> agree; some agree ->
    partly; none agree -> their common verdict if they share one, else "not shown"."""
    if not verdicts:
        raise ValueError("combine needs at least one verdict")
    kinds = [v.verdict for v in verdicts]
    agreeing = kinds.count("agree")
    shared = kinds[0] if len(set(kinds)) == 1 else "not shown"
    verdict = "agree" if agreeing == len(kinds) else "partly" if agreeing else shared
    reason = f"{agreeing} of {len(kinds)} {claim_parts} agree: " + "; ".join(
        f"{v.verdict} ({v.reason})" for v in verdicts)
    precondition = "; ".join(v.precondition for v in verdicts if v.precondition)
    return Verdict(verdict, reason, precondition, "; ".join(dict.fromkeys(v.seeds for v in verdicts)))


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
                   threshold: float = 500.0, min_seeds: int = 3) -> Verdict:
    """Claim 3b: training with a unique shortcut lowers the clean RSUM, to about zero for VSE++
    (``kind="full"``: below 3 x chance) and part of the way for CLIP (``kind="partial"``: a
    significant loss that stays at or above 3 x chance). Counts only where the setting uses the
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
    diff, floor = welch_difference(clean_baseline, clean_shortcut), _at_chance(chance)
    lost, at_chance = diff.high < 0, _mean(clean_shortcut) < floor
    text = (f"clean RSUM {_mean(clean_shortcut):.1f} with the shortcut vs {_mean(clean_baseline):.1f} "
            f"without (difference {diff}; 3 x chance = {floor:.1f})")
    if kind == "full":
        verdict = "agree" if at_chance else "partly" if lost else "not shown"
    else:
        verdict = "not shown" if not lost else "partly" if at_chance else "agree"
    return Verdict(verdict, text, precondition, seeds)


def _rho(n_bits: np.ndarray, values: np.ndarray) -> float:
    """Spearman's rho of ``values`` with ``n_bits``; nan where ``values`` is constant."""
    return float("nan") if np.ptp(values) == 0 else float(stats.spearmanr(n_bits, values).statistic)


def bits_trend(n_bits: Sequence[int], clean: Sequence[float], shortcut: Sequence[float],
               min_rho: float = 0.7) -> Verdict:
    """Claim 4: more shortcut bits, lower clean RSUM and higher shortcut RSUM, read as Spearman rank
    correlations with ``n_bits`` (at most -``min_rho`` and at least ``min_rho``); curves may dip."""
    bits, down, up = _values(n_bits, "n_bits"), _values(clean, "clean"), _values(shortcut, "shortcut")
    if not bits.size == down.size == up.size:
        raise ValueError(f"n_bits, clean and shortcut need one value per point each, got "
                         f"{bits.size}, {down.size} and {up.size}")
    seeds = f"{bits.size} points (n_bits {bits.min():g}-{bits.max():g})"
    if np.unique(bits).size < 4:
        return Verdict("not testable here", f"only {np.unique(bits).size} distinct n_bits values",
                       "at least 4 distinct n_bits: fails", seeds)
    rho_clean, rho_shortcut = _rho(bits, down), _rho(bits, up)
    falls, rises = rho_clean <= -min_rho, rho_shortcut >= min_rho
    verdict = "agree" if falls and rises else "partly" if falls or rises else "not shown"
    return Verdict(verdict, f"Spearman rho with n_bits: clean {rho_clean:.2f} (needs <= {-min_rho:g}), "
                   f"shortcut {rho_shortcut:.2f} (needs >= {min_rho:g})", "", seeds)


def mitigation_helps(clean_without: Sequence[float], clean_with: Sequence[float],
                     shortcut_without: Sequence[float], shortcut_with: Sequence[float],
                     clean_baseline: Sequence[float], chance: float, threshold: float = 500.0,
                     min_seeds: int = 5) -> Verdict:
    """Claim 5, a mitigation helps (partly): in the shortcut-trained setting, the clean RSUM with the
    mitigation is above the one without (interval above 0). Precondition: the run without it uses
    the shortcut and lost clean RSUM against ``clean_baseline`` (something to recover)."""
    samples = dict(clean_without=clean_without, clean_with=clean_with, shortcut_without=shortcut_without,
                   shortcut_with=shortcut_with, clean_baseline=clean_baseline)
    if (early := _too_few(min_seeds, **samples)) is not None:
        return early
    seeds, floor = _seeds(*samples.values()), _at_chance(chance)
    uses, first = _shortcut_precondition(shortcut_without, threshold)
    loss = welch_difference(clean_baseline, clean_without)
    precondition = (f"without the mitigation, {first}; clean RSUM below the baseline ({loss}): "
                    f"{'holds' if loss.high < 0 else 'fails'}")
    if not uses or loss.high >= 0:
        failed = "does not use the shortcut" if not uses else "lost no clean RSUM: nothing to recover"
        return Verdict("not testable here", f"the run without the mitigation {failed}", precondition, seeds)
    clean = welch_difference(clean_without, clean_with)
    shortcut = welch_difference(shortcut_without, shortcut_with)
    at_chance = " (still below 3 x chance)" if _mean(clean_with) < floor else ""
    text = f"with minus without: clean RSUM {clean}{at_chance}, shortcut RSUM {shortcut}"
    verdict, outcome = ("agree", "rises") if clean.low > 0 else ("not shown", "does not rise")
    return Verdict(verdict, f"{text}: clean RSUM {outcome}", precondition, seeds)


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
                      min_seeds: int = 5) -> Verdict:
    """Reliance on the shortcut (RSUM with it) is cut more by ``name_a`` than by ``name_b``: the
    interval of mean(a) - mean(b) lies below 0."""
    if name_a == name_b:
        raise ValueError(f"name_a and name_b must name two different mitigations, got {name_a!r} twice")
    if (early := _too_few(min_seeds, **{name_a: shortcut_a, name_b: shortcut_b})) is not None:
        return early
    diff = welch_difference(shortcut_b, shortcut_a)
    text = f"shortcut RSUM {name_a} minus {name_b}: {diff}"
    outcome = f"{name_a} cuts it more" if diff.high < 0 else f"not lower with {name_a}"
    return Verdict("agree" if diff.high < 0 else "not shown", f"{text}: {outcome}", "",
                   _seeds(shortcut_a, shortcut_b))


def verdict_table(rows: Mapping[str, Verdict]) -> pd.DataFrame:
    """One row per claim (index ``claim``): verdict, reason, precondition, seeds."""
    table = pd.DataFrame([asdict(v) for v in rows.values()], index=list(rows),
                         columns=["verdict", "reason", "precondition", "seeds"])
    table.index.name = "claim"
    return table

"""Intervals over seeds: the difference of two settings' per-seed values as a paired or a Welch
t interval (:class:`Difference`), the level each interval of a family is read at (Bonferroni,
:func:`family_level`) and Holm's adjusted p-values (:func:`holm`).

Runs that share seeds (variants of one setting, a trial beside its reference) share their
initialisation, batches and start: their per-seed differences cancel what a seed does to both, so
they are compared with :func:`paired_difference`. Settings that share nothing are compared with
:func:`welch_difference`.
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy import stats


@dataclass(frozen=True)
class Difference:
    """mean(b) - mean(a) and its ``level`` interval: Welch's (two samples) or, with ``paired``, the
    one-sample t interval of the per-seed differences b - a; ``p`` is the two-sided p-value of a
    zero difference (nan where both samples are constant)."""
    mean: float
    low: float
    high: float
    n_a: int
    n_b: int
    level: float
    paired: bool = False
    p: float = float("nan")

    def __str__(self) -> str:
        """One decimal for RSUM-sized quantities; four where every bound is below 1 (an L_rec)."""
        counts = f"paired, n={self.n_a}" if self.paired else f"n={self.n_a}/{self.n_b}"
        d = 1 if max(abs(self.mean), abs(self.low), abs(self.high)) >= 1 else 4
        return f"{self.mean:.{d}f} [{self.low:.{d}f}, {self.high:.{d}f}] ({self.level * 100:.3g} %, {counts})"


def seed_values(sample: Sequence[float], name: str) -> np.ndarray:
    """``sample`` as a 1-D float array of finite values, or a ValueError naming ``name``."""
    values = np.asarray(sample, dtype=float)
    if values.ndim != 1 or values.size == 0 or not np.isfinite(values).all():
        raise ValueError(f"{name} must be a non-empty list of finite numbers (one per seed), got {sample!r}")
    return values


def _check_level(level: float) -> None:
    if not 0 < level < 1:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")


def _t_interval(mean: float, se: float, df: float, level: float) -> tuple[float, float, float]:
    """(low, high, two-sided p of 0) of a t interval; a zero standard error collapses it."""
    if se == 0:
        return mean, mean, float("nan")
    half = float(stats.t.ppf((1 + level) / 2, df) * se)
    return mean - half, mean + half, float(2 * stats.t.sf(abs(mean) / se, df))


def welch_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Difference:
    """mean(b) - mean(a) with the Welch-Satterthwaite t interval at ``level``, for two samples that
    share nothing. Needs at least two values on each side; where both samples are constant the
    interval collapses to the mean."""
    _check_level(level)
    x, y = seed_values(a, "a"), seed_values(b, "b")
    for side, values in (("a", x), ("b", y)):
        if values.size < 2:
            raise ValueError(f"Welch's interval needs at least 2 values on each side; {side} has "
                             f"{values.size}: run more seeds")
    va, vb = x.var(ddof=1) / x.size, y.var(ddof=1) / y.size
    mean = float(y.mean() - x.mean())
    df = (va + vb) ** 2 / (va ** 2 / (x.size - 1) + vb ** 2 / (y.size - 1)) if va + vb else 1.0
    low, high, p = _t_interval(mean, math.sqrt(va + vb), df, level)
    return Difference(mean, low, high, x.size, y.size, level, False, p)


def paired_difference(a: Sequence[float], b: Sequence[float], level: float = 0.95) -> Difference:
    """mean(b - a) over seeds with the one-sample t interval of the differences at ``level``: for
    two settings run on the same seeds (``a[i]`` and ``b[i]`` share seed i, so their initialisation,
    data order and start). Needs the same number (at least 2) of values on each side."""
    _check_level(level)
    x, y = seed_values(a, "a"), seed_values(b, "b")
    if x.size != y.size:
        raise ValueError(f"a paired difference needs one value per seed on each side, in the same seed "
                         f"order; got {x.size} and {y.size}: compare the seeds both settings have")
    if x.size < 2:
        raise ValueError(f"a paired interval needs at least 2 seeds, got {x.size}: run more seeds")
    d = y - x
    low, high, p = _t_interval(float(d.mean()), float(d.std(ddof=1) / math.sqrt(d.size)), d.size - 1, level)
    return Difference(float(d.mean()), low, high, x.size, y.size, level, True, p)


def difference(a: Sequence[float], b: Sequence[float], paired: bool, level: float = 0.95) -> Difference:
    """:func:`paired_difference` with ``paired``, else :func:`welch_difference`."""
    return (paired_difference if paired else welch_difference)(a, b, level)


def family_level(tests: int, alpha: float = 0.05) -> float:
    """The interval level of each of ``tests`` intervals in one family, so that the chance of any
    false claim in the family stays at most ``alpha`` (Bonferroni: 1 - alpha / tests)."""
    if tests < 1 or not 0 < alpha < 1:
        raise ValueError(f"a family needs at least 1 test and 0 < alpha < 1, got {tests} and {alpha}")
    return 1 - alpha / tests


def holm(p_values: Sequence[float]) -> list[float]:
    """Holm's step-down adjusted p-values, in the order given (nan stays nan, and counts as a test)."""
    p = np.asarray(p_values, dtype=float)
    order = np.argsort(np.where(np.isnan(p), np.inf, p), kind="stable")
    adjusted, running = np.full(p.size, np.nan), 0.0
    for rank, i in enumerate(order):
        if np.isnan(p[i]):
            continue
        running = max(running, min(1.0, (p.size - rank) * p[i]))
        adjusted[i] = running
    return adjusted.tolist()

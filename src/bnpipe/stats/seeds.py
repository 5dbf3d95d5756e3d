"""Seed-level statistics: summaries over seeds, the paired intervals of ``bn -
plain`` and the ``PairedInterval`` every interval of :mod:`bnpipe.stats` is.

Two kinds of interval for the seed-level comparison
---------------------------------------------------
``paired_bootstrap`` resamples seeds (percentile bootstrap of the mean paired
difference). With few seeds it is too narrow: a bootstrap interval can never be
wider than the range of the observed differences, so with 3 seeds it excludes 0
whenever all three differences share a sign -- 25 % of the time when the
variants are identical. ``paired_t_interval`` (Student's t on the paired
differences) holds its nominal level down to 2 seeds when the differences are
roughly normal, which seed-to-seed noise of a test metric usually is. Both
return a ``PairedInterval``; its ``method`` field says which one it is.

One seed
--------
With ``n == 1`` there is one difference and no estimate of seed noise, so no
method can tell a real difference from luck. There is no interval (``ci_low``
and ``ci_high`` are NaN), ``mean`` is the one difference, ``n`` is 1, and
``better()`` (hence ``winner()``) returns ``"tie"``. ``leaning()`` still reports
the side the point estimate favours, e.g. for choosing which variant to register
when there is no evidence either way.

Non-finite values
-----------------
A diverged seed has NaN metrics. ``summarize`` reports mean and std over the
finite values and counts the others in ``n_nonfinite``. The paired intervals drop
a seed pair when either value is non-finite and count it in ``n_dropped``;
``n`` is the number of pairs used.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bnpipe import evaluation
from bnpipe.stats.distributions import bootstrap_interval, t_quantile

SEED_LABELS: tuple[str, str] = ("plain", "bn")
CHAMPION_LABELS: tuple[str, str] = ("champion", "challenger")
TIE = "tie"

# --------------------------------------------------------------------------- summaries


@dataclass(frozen=True)
class Summary:
    """Mean and sample standard deviation (``ddof=1``; 0.0 when ``n == 1``) over seeds.

    ``n`` counts the finite values used; ``n_nonfinite`` the NaN/inf values left out
    (diverged seeds). With no finite value, ``mean`` and ``std`` are NaN.
    """

    mean: float
    std: float
    n: int
    n_nonfinite: int = 0


def summarize(values: Sequence[float]) -> Summary:
    """Summary of one metric over seeds; non-finite values are counted, not averaged."""
    v = np.asarray(values, dtype=float).ravel()
    finite = v[np.isfinite(v)]
    n = int(finite.size)
    bad = int(v.size - n)
    if n == 0:
        return Summary(float("nan"), float("nan"), 0, bad)
    std = float(np.std(finite, ddof=1)) if n > 1 else 0.0
    return Summary(float(np.mean(finite)), std, n, bad)


# --------------------------------------------------------------------------- intervals


@dataclass(frozen=True)
class PairedInterval:
    """Interval for the mean difference ``candidate - baseline`` on one metric.

    ``labels`` is ``(baseline, candidate)``: ``("plain", "bn")`` for seeds,
    ``("champion", "challenger")`` for the row bootstrap. ``mean`` is the point
    estimate of the difference, ``[ci_low, ci_high]`` its ``level`` interval,
    ``n`` the number of seed pairs (or test rows) behind it.
    """

    metric: str
    mean: float
    ci_low: float
    ci_high: float
    n: int
    higher_is_better: bool
    level: float = 0.95
    method: str = "bootstrap"
    n_dropped: int = 0
    labels: tuple[str, str] = SEED_LABELS

    @property
    def baseline(self) -> str:
        return self.labels[0]

    @property
    def candidate(self) -> str:
        return self.labels[1]

    def contains_zero(self) -> bool:
        """True when 0 lies in ``[ci_low, ci_high]``; also True for a NaN interval."""
        if not (math.isfinite(self.ci_low) and math.isfinite(self.ci_high)):
            return True
        return self.ci_low <= 0.0 <= self.ci_high

    @property
    def conclusive(self) -> bool:
        """The interval excludes 0 and rests on at least two pairs (seeds or rows)."""
        return self.n >= 2 and not self.contains_zero()

    def _favoured_by_sign(self, value: float) -> str:
        if not math.isfinite(value) or value == 0.0:
            return TIE
        candidate_higher = value > 0.0
        return self.candidate if candidate_higher == self.higher_is_better else self.baseline

    def better(self) -> str:
        """The label the interval favours (``"bn"``/``"plain"`` or
        ``"challenger"``/``"champion"``), or ``"tie"`` when it is not conclusive.

        Lower-is-better metric: an interval entirely below 0 favours the candidate;
        higher-is-better: entirely above 0 does.
        """
        if not self.conclusive:
            return TIE
        return self._favoured_by_sign(self.ci_low if self.ci_low > 0 else self.ci_high)

    def leaning(self) -> str:
        """The label the point estimate favours, ignoring the interval (``"tie"``
        when the mean difference is 0 or NaN). Not evidence; a tie-breaker."""
        return self._favoured_by_sign(self.mean)


def _pairs(a: Sequence[float], b: Sequence[float]) -> tuple[np.ndarray, int]:
    av = np.asarray(a, dtype=float).ravel()
    bv = np.asarray(b, dtype=float).ravel()
    if av.shape != bv.shape:
        raise ValueError(
            f"paired values need the same number of seeds, got {av.size} and {bv.size}"
        )
    ok = np.isfinite(av) & np.isfinite(bv)
    return bv[ok] - av[ok], int(av.size - ok.sum())


def check_level(level: float) -> None:
    """Refuse a confidence level outside (0, 1)."""
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")


def _seed_interval(
    a: Sequence[float],
    b: Sequence[float],
    *,
    metric: str,
    level: float,
    method: str,
    bounds: Callable[[np.ndarray], tuple[float, float]],
) -> PairedInterval:
    """The interval of ``method`` for the mean of ``d = b - a`` over the finite pairs:
    ``bounds(d)`` with two pairs or more; with fewer, no interval (NaN bounds) and
    the one difference there is, or NaN for none, as the mean."""
    check_level(level)
    metric = evaluation.canonical_metric(metric)
    d, dropped = _pairs(a, b)
    if d.size >= 2:
        mean, (lo, hi) = float(d.mean()), bounds(d)
    else:
        mean, lo, hi = float(d[0]) if d.size else math.nan, math.nan, math.nan
    return PairedInterval(
        metric=metric,
        mean=mean,
        ci_low=float(lo),
        ci_high=float(hi),
        n=int(d.size),
        higher_is_better=evaluation.higher_is_better(metric),
        level=level,
        method=method,
        n_dropped=dropped,
    )


def paired_bootstrap(
    a: Sequence[float],
    b: Sequence[float],
    *,
    metric: str,
    n_boot: int = 10_000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedInterval:
    """Percentile bootstrap interval of the mean of ``d_i = b_i - a_i``.

    ``a`` is plain and ``b`` is bn, aligned by seed (``a[i]`` and ``b[i]`` were
    trained with the same seed). The seed indices are resampled with
    replacement ``n_boot`` times; the interval is the ``(1 - level) / 2`` and
    ``(1 + level) / 2`` quantiles of the resampled means. Deterministic for a
    given ``seed``. Too narrow for few seeds (see the module doc and
    ``paired_t_interval``); one pair gives the point, ``better() == "tie"``.
    """

    def bounds(d: np.ndarray) -> tuple[float, float]:
        return bootstrap_interval((d,), np.mean, n_boot=n_boot, seed=seed, level=level)

    return _seed_interval(a, b, metric=metric, level=level, method="bootstrap", bounds=bounds)


def paired_t_interval(
    a: Sequence[float], b: Sequence[float], *, metric: str, level: float = 0.95
) -> PairedInterval:
    """Student-t interval of the mean of ``d_i = b_i - a_i`` (paired by seed).

    ``mean(d) +- t_{n-1, (1+level)/2} * std(d, ddof=1) / sqrt(n)``: the right
    width for few seeds, where the bootstrap is too narrow. One pair gives the
    point and ``better() == "tie"``.
    """

    def bounds(d: np.ndarray) -> tuple[float, float]:
        m, n = float(d.mean()), d.size
        half = t_quantile((1.0 + level) / 2.0, n - 1) * float(np.std(d, ddof=1)) / math.sqrt(n)
        return m - half, m + half

    return _seed_interval(a, b, metric=metric, level=level, method="t", bounds=bounds)


def paired_intervals(
    plain: Mapping[str, Sequence[float]],
    bn: Mapping[str, Sequence[float]],
    metrics: Sequence[str],
    *,
    method: str = "t",
    n_boot: int = 10_000,
    seed: int = 0,
    level: float = 0.95,
) -> dict[str, PairedInterval]:
    """``bn - plain`` intervals for each metric; ``plain[m]``/``bn[m]`` are per-seed
    values aligned by seed. ``method`` is ``"t"`` (``paired_t_interval``) or
    ``"bootstrap"`` (``paired_bootstrap``)."""
    if method not in ("t", "bootstrap"):
        raise ValueError(f"method must be 't' or 'bootstrap', got {method!r}")
    out: dict[str, PairedInterval] = {}
    for m in metrics:
        if method == "t":
            out[m] = paired_t_interval(plain[m], bn[m], metric=m, level=level)
        else:
            out[m] = paired_bootstrap(
                plain[m], bn[m], metric=m, n_boot=n_boot, seed=seed, level=level
            )
    return out


def winner(intervals: Mapping[str, PairedInterval], primary: str) -> str:
    """``"bn"``, ``"plain"`` or ``"tie"``, from the interval of the primary metric.

    ``"tie"`` means no evidence of a difference (the interval contains 0, a seed
    diverged on every pair, or there was one seed) -- not that the variants are
    equal. ``intervals[primary].leaning()`` gives the side the mean favours.
    """
    try:
        interval = intervals[primary]
    except KeyError:
        raise KeyError(
            f"no interval for the primary metric {primary!r}; have {sorted(intervals)}"
        ) from None
    return interval.better()

"""Seed-aware statistics: summaries over seeds, paired intervals, the champion rule.

Sign convention (everywhere in this module)
-------------------------------------------
An interval is about ``candidate - baseline``:

* seed-level comparison: ``bn - plain`` (``labels=("plain", "bn")``),
* champion rule: ``challenger - champion`` (``labels=("champion", "challenger")``).

For a lower-is-better metric (``test_rmse``, ``test_mae``, ``test_log_loss``) a
*negative* difference favours the candidate (bn / challenger); for a
higher-is-better metric (``test_r2``, ``test_accuracy``, ``test_macro_f1``) a
*positive* difference does. ``PairedInterval.better()`` applies the direction, so
callers never have to.

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
method can tell a real difference from luck. The interval collapses to the
point (``ci_low == ci_high == mean``) so it can still be shown, ``n`` is 1, and
``better()`` (hence ``winner()``) returns ``"tie"``. ``leaning()`` still reports
the side the point estimate favours, e.g. for choosing which variant to register
when there is no evidence either way.

Non-finite values
-----------------
A diverged seed has NaN metrics. ``summarize`` reports mean and std over the
finite values and counts the others in ``n_nonfinite``. The paired intervals drop
a seed pair when either value is non-finite and count it in ``n_dropped``;
``n`` is the number of pairs used. The row bootstrap gives a NaN interval (no
win) when any per-row loss is non-finite.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from bnpipe import evaluation

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


def _check_level(level: float) -> None:
    if not 0.0 < level < 1.0:
        raise ValueError(f"level must lie strictly between 0 and 1, got {level}")


def _degenerate(
    d: np.ndarray, *, metric: str, level: float, method: str, n_dropped: int
) -> PairedInterval | None:
    """The interval for fewer than two pairs: no interval (NaN bounds); the mean is
    the one difference there is, or NaN for none. One sample makes no interval."""
    if d.size >= 2:
        return None
    m = float(d[0]) if d.size == 1 else float("nan")
    return PairedInterval(
        metric=metric,
        mean=m,
        ci_low=float("nan"),
        ci_high=float("nan"),
        n=int(d.size),
        higher_is_better=evaluation.higher_is_better(metric),
        level=level,
        method=method,
        n_dropped=n_dropped,
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
    _check_level(level)
    metric = evaluation.canonical_metric(metric)
    d, dropped = _pairs(a, b)
    point = _degenerate(d, metric=metric, level=level, method="bootstrap", n_dropped=dropped)
    if point is not None:
        return point
    rng = np.random.default_rng(seed)
    idx = rng.integers(0, d.size, size=(n_boot, d.size))
    means = d[idx].mean(axis=1)
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(means, [alpha, 1.0 - alpha])
    return PairedInterval(
        metric=metric,
        mean=float(d.mean()),
        ci_low=float(lo),
        ci_high=float(hi),
        n=int(d.size),
        higher_is_better=evaluation.higher_is_better(metric),
        level=level,
        method="bootstrap",
        n_dropped=dropped,
    )


def paired_t_interval(
    a: Sequence[float], b: Sequence[float], *, metric: str, level: float = 0.95
) -> PairedInterval:
    """Student-t interval of the mean of ``d_i = b_i - a_i`` (paired by seed).

    ``mean(d) +- t_{n-1, (1+level)/2} * std(d, ddof=1) / sqrt(n)``: the right
    width for few seeds, where the bootstrap is too narrow. One pair gives the
    point and ``better() == "tie"``.
    """
    _check_level(level)
    metric = evaluation.canonical_metric(metric)
    d, dropped = _pairs(a, b)
    point = _degenerate(d, metric=metric, level=level, method="t", n_dropped=dropped)
    if point is not None:
        return point
    n = d.size
    m = float(d.mean())
    half = t_quantile((1.0 + level) / 2.0, n - 1) * float(np.std(d, ddof=1)) / math.sqrt(n)
    return PairedInterval(
        metric=metric,
        mean=m,
        ci_low=m - half,
        ci_high=m + half,
        n=int(n),
        higher_is_better=evaluation.higher_is_better(metric),
        level=level,
        method="t",
        n_dropped=dropped,
    )


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


# --------------------------------------------------------------------------- champion rule

_MAX_GATHER = 4_000_000  # index-matrix entries per chunk (~32 MB of int64)


def row_bootstrap(
    champion_rows: np.ndarray,
    challenger_rows: np.ndarray,
    *,
    metric: str,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedInterval:
    """Bootstrap over test rows of ``statistic(challenger) - statistic(champion)``.

    Both models were scored on the same test rows; ``*_rows`` are their per-row
    losses from ``evaluation.per_row_loss`` for ``metric``. Each replicate draws
    row indices with replacement and evaluates both models on the *same* rows
    (``sqrt(mean)`` of squared errors for ``test_rmse``, ``mean`` otherwise). The
    result has ``labels=("champion", "challenger")``; for a lower-is-better metric a
    negative difference favours the challenger. ``n`` is the number of rows.
    Any non-finite row loss gives a NaN interval (``better() == "tie"``).
    """
    _check_level(level)
    metric = evaluation.canonical_metric(metric)
    if metric not in evaluation.ROW_METRICS:
        raise ValueError(
            f"{metric!r} is not a mean over rows; use one of {', '.join(evaluation.ROW_METRICS)}"
        )
    champ = np.asarray(champion_rows, dtype=float).ravel()
    chall = np.asarray(challenger_rows, dtype=float).ravel()
    if champ.shape != chall.shape:
        raise ValueError(
            f"both models must be scored on the same rows, got {champ.size} and {chall.size}"
        )
    if champ.size == 0:
        raise ValueError("row_bootstrap needs at least one row")
    n = int(champ.size)
    hib = evaluation.higher_is_better(metric)
    sqrt = metric == "test_rmse"

    def stat(x: np.ndarray) -> np.ndarray:
        return np.sqrt(x) if sqrt else x

    if not (np.all(np.isfinite(champ)) and np.all(np.isfinite(chall))):
        nan = float("nan")
        return PairedInterval(
            metric, nan, nan, nan, n, hib, level, "row-bootstrap", 0, CHAMPION_LABELS
        )
    point = float(stat(chall.mean()) - stat(champ.mean()))
    rng = np.random.default_rng(seed)
    diffs = np.empty(n_boot)
    chunk = max(1, _MAX_GATHER // n)
    for start in range(0, n_boot, chunk):
        stop = min(n_boot, start + chunk)
        idx = rng.integers(0, n, size=(stop - start, n))
        diffs[start:stop] = stat(chall[idx].mean(axis=1)) - stat(champ[idx].mean(axis=1))
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(diffs, [alpha, 1.0 - alpha])
    return PairedInterval(
        metric=metric,
        mean=point,
        ci_low=float(lo),
        ci_high=float(hi),
        n=n,
        higher_is_better=hib,
        level=level,
        method="row-bootstrap",
        n_dropped=0,
        labels=CHAMPION_LABELS,
    )


def compare_on_rows(
    task: str,
    y_true: np.ndarray,
    champion_pred: np.ndarray,
    challenger_pred: np.ndarray,
    *,
    metric: str,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> PairedInterval:
    """``row_bootstrap`` on the per-row losses of two models' predictions for the
    same rows (``evaluation.per_row_loss``); ``challenger - champion``."""
    return row_bootstrap(
        evaluation.per_row_loss(task, y_true, champion_pred, metric),
        evaluation.per_row_loss(task, y_true, challenger_pred, metric),
        metric=metric,
        n_boot=n_boot,
        seed=seed,
        level=level,
    )


def score_interval(
    task: str,
    y_true: np.ndarray,
    pred: np.ndarray,
    *,
    metric: str,
    n_boot: int = 2000,
    seed: int = 0,
    level: float = 0.95,
) -> tuple[float, float]:
    """Bootstrap interval over rows of one model's ``metric`` on ``y_true``: the
    record a champion is later held to ("does it still score like this?")."""
    _check_level(level)
    rows = np.asarray(evaluation.per_row_loss(task, y_true, pred, metric), dtype=float).ravel()
    if rows.size == 0 or not np.all(np.isfinite(rows)):
        return float("nan"), float("nan")
    sqrt = evaluation.canonical_metric(metric) == "test_rmse"
    rng = np.random.default_rng(seed)
    means = rows[rng.integers(0, rows.size, size=(n_boot, rows.size))].mean(axis=1)
    values = np.sqrt(means) if sqrt else means
    alpha = (1.0 - level) / 2.0
    lo, hi = np.quantile(values, [alpha, 1.0 - alpha])
    return float(lo), float(hi)


def challenger_wins(interval: PairedInterval, higher_is_better: bool | None = None) -> bool:
    """True only when the ``challenger - champion`` interval excludes 0 on the
    challenger's better side (below 0 for lower-is-better, above for higher).

    ``higher_is_better`` defaults to the interval's own direction. A NaN interval,
    or one that contains 0, is not a win: the champion stays.
    """
    hib = interval.higher_is_better if higher_is_better is None else higher_is_better
    if interval.n < 2 or interval.contains_zero():
        return False
    return interval.ci_low > 0.0 if hib else interval.ci_high < 0.0


# --------------------------------------------------------------------------- t quantile
# Student's t quantile without scipy (the core depends on numpy only): the CDF via
# the regularised incomplete beta function (continued fraction, Lentz's method),
# inverted by bisection. Accurate to ~1e-10, far below what an interval needs.


def _betacf(a: float, b: float, x: float) -> float:
    tiny = 1e-300
    qab, qap, qam = a + b, a + 1.0, a - 1.0
    c, d = 1.0, 1.0 - qab * x / qap
    d = 1.0 / (d if abs(d) > tiny else tiny)
    h = d
    for m in range(1, 500):
        m2 = 2 * m
        aa = m * (b - m) * x / ((qam + m2) * (a + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        h *= d * c
        aa = -(a + m) * (qab + m) * x / ((a + m2) * (qap + m2))
        d = 1.0 + aa * d
        d = 1.0 / (d if abs(d) > tiny else tiny)
        c = 1.0 + aa / c
        c = c if abs(c) > tiny else tiny
        delta = d * c
        h *= delta
        if abs(delta - 1.0) < 1e-15:
            break
    return h


def _betainc(a: float, b: float, x: float) -> float:
    """Regularised incomplete beta I_x(a, b)."""
    if x <= 0.0:
        return 0.0
    if x >= 1.0:
        return 1.0
    ln_front = (
        math.lgamma(a + b) - math.lgamma(a) - math.lgamma(b) + a * math.log(x) + b * math.log1p(-x)
    )
    front = math.exp(ln_front)
    if x < (a + 1.0) / (a + b + 2.0):
        return front * _betacf(a, b, x) / a
    return 1.0 - front * _betacf(b, a, 1.0 - x) / b


def t_cdf(t: float, df: float) -> float:
    """CDF of Student's t distribution with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    tail = 0.5 * _betainc(df / 2.0, 0.5, df / (df + t * t))
    return 1.0 - tail if t >= 0 else tail


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t (``p`` in (0, 1), ``df > 0``)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p}")
    if p == 0.5:
        return 0.0
    if p < 0.5:
        return -t_quantile(1.0 - p, df)
    hi = 1.0
    while t_cdf(hi, df) < p:
        hi *= 2.0
    lo = 0.0
    for _ in range(200):
        mid = 0.5 * (lo + hi)
        if t_cdf(mid, df) < p:
            lo = mid
        else:
            hi = mid
        if hi - lo <= 1e-12 * max(1.0, hi):
            break
    return 0.5 * (lo + hi)

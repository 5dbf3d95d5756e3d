"""Sampling distributions from SciPy: the percentile bootstrap and Student's t.

SciPy is imported inside the functions, so importing :mod:`bnpipe.stats` stays cheap.
"""

from __future__ import annotations

import numpy as np

_MAX_GATHER = 4_000_000  # index-matrix entries per batch of resamples (~32 MB of int64)


def bootstrap_interval(
    data: tuple[np.ndarray, ...],
    statistic,
    *,
    n_boot: int,
    seed: int,
    level: float,
) -> tuple[float, float]:
    """The percentile bootstrap interval of ``statistic`` (``scipy.stats.bootstrap``).

    Two or more samples are paired (the same rows are drawn from each);
    ``statistic(*samples, axis=-1)`` is vectorised over resamples. Deterministic
    for a given ``seed``; resamples are drawn in batches of at most ``_MAX_GATHER``
    indices (the same draws as all at once)."""
    if data[0].size < 2:  # every resample of one row is that row (SciPy refuses it)
        value = float(statistic(*data, axis=-1))
        return value, value
    from scipy.stats import bootstrap

    res = bootstrap(
        data,
        statistic,
        n_resamples=n_boot,
        batch=max(1, _MAX_GATHER // data[0].size),
        vectorized=True,
        paired=len(data) > 1,
        confidence_level=level,
        method="percentile",
        rng=np.random.default_rng(seed),
    )
    return float(res.confidence_interval.low), float(res.confidence_interval.high)


def t_cdf(t: float, df: float) -> float:
    """CDF of Student's t distribution with ``df`` degrees of freedom."""
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    from scipy.stats import t as student_t

    return float(student_t.cdf(t, df))


def t_quantile(p: float, df: float) -> float:
    """Quantile of Student's t (``p`` in (0, 1), ``df > 0``)."""
    if not 0.0 < p < 1.0:
        raise ValueError(f"p must lie strictly between 0 and 1, got {p}")
    if df <= 0:
        raise ValueError(f"degrees of freedom must be positive, got {df}")
    from scipy.stats import t as student_t

    return float(student_t.ppf(p, df))

"""A feature's relation to the target, the number a drift profile keeps so a target
that no longer goes with its features shows (the table: :mod:`bnpipe.drift.profiles`).

scipy is imported inside the functions that use it: importing bnpipe.drift does no work.
"""

from __future__ import annotations

import math

import numpy as np
import pandas as pd

from bnpipe.drift.columns import finite_or_none, present


def relation(
    feature: np.ndarray, feature_kind: str, target: np.ndarray, target_kind: str
) -> float | None:
    """The feature's relation to the target (see :mod:`bnpipe.drift.profiles`'s table):
    None with fewer than two complete rows."""
    ok = present(feature, feature_kind) & present(target, target_kind)
    if ok.sum() < 2:
        return None
    f, t = feature[ok], target[ok]
    if feature_kind == "numeric" and target_kind == "numeric":
        value = _spearman(f.astype(float), t.astype(float))
    elif feature_kind == "numeric":
        value = _eta(t, f.astype(float))
    elif target_kind == "numeric":
        value = _eta(f, t.astype(float))
    else:
        value = _cramers_v(f, t)
    return finite_or_none(value)


def _eta(groups: np.ndarray, values: np.ndarray) -> float:
    """Correlation ratio of ``values`` over ``groups`` (complete rows only), in [0, 1]."""
    total = float(np.sum((values - values.mean()) ** 2))
    if total <= 0.0:
        return 0.0
    frame = pd.DataFrame({"g": groups, "v": values})
    stats = frame.groupby("g", sort=False)["v"].agg(["count", "mean"])
    between = float(np.sum(stats["count"] * (stats["mean"] - values.mean()) ** 2))
    return min(1.0, math.sqrt(max(0.0, between / total)))


def _spearman(x: np.ndarray, y: np.ndarray) -> float:
    from scipy import stats

    if np.unique(x).size < 2 or np.unique(y).size < 2:
        return 0.0
    rho = float(stats.spearmanr(x, y).statistic)
    return rho if math.isfinite(rho) else 0.0


def _cramers_v(a: np.ndarray, b: np.ndarray) -> float:
    from scipy import stats

    table = pd.crosstab(pd.Series(a, dtype=object), pd.Series(b, dtype=object)).to_numpy()
    k = min(table.shape)
    if k < 2:
        return 0.0
    chi2 = float(stats.chi2_contingency(table, correction=False).statistic)
    v = math.sqrt(max(0.0, chi2 / (table.sum() * (k - 1))))
    return min(1.0, v) if math.isfinite(v) else 0.0

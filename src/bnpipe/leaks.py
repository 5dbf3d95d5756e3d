"""Possible target leaks: feature columns that reproduce the target.

A column that is the target in other units (``bwghtlbs`` x 16 = ``bwght``), a
function of it (``logwage`` = log(``wage``)), or features that add up to it give
a model that looks perfect and predicts nothing real. :func:`find_leaks` looks for
the common shapes in a frame's rows (``bnpipe dataset init`` on the whole CSV,
``bnpipe run`` on the training rows), each a :class:`Leak` naming its columns:

- ``monotone``: a numeric feature whose ranks follow the target's (regression):
  |Spearman rho| >= :data:`MONOTONE_RHO`;
- ``linear``: a least-squares fit of the target on the numeric features (the
  ``monotone`` ones left out) explains R² >= :data:`LINEAR_R2` on rows it was not
  fitted on (regression); the columns named are those that carry the fit
  (standardized coefficient >= :data:`CARRIER_WEIGHT`);
- ``bins``: a categorical feature whose levels cut the target into disjoint
  ranges (regression: the level is a binning of the target);
- ``classes``: a feature with at most :data:`FEW_VALUES` distinct values, each
  seen in one class only and covering every class (classification: a relabelling
  of the target);
- ``derived``: a feature with one value per class and at least two values in all
  (classification: a function of the target, e.g. a region derived from an area).

:func:`reference_leak` reads the same from the linear reference's test score
(R² >= :data:`LINEAR_R2`, log loss <= :data:`LOG_LOSS_FLOOR`).

The checks are cheap at any width: a sample of :data:`SAMPLE_ROWS` rows, ranks
and least squares in numpy (the fit on at most :data:`MAX_LINEAR_COLUMNS` columns,
those most correlated with the target). Nothing here imports TensorFlow, MLflow
or Prefect.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

MONOTONE_RHO = 0.999
LINEAR_R2 = 0.999
LOG_LOSS_FLOOR = 1e-3  # iris's networks reach ~0.015, its logistic reference ~0.05-0.1
CARRIER_WEIGHT = 0.01  # standardized coefficient of a column that carries a linear leak
FEW_VALUES = 20
SAMPLE_ROWS = 5000
MAX_LINEAR_COLUMNS = 200
MIN_ROWS = 20  # fewer rows with values: no verdict


@dataclass(frozen=True)
class Leak:
    """Columns that reproduce the target, by one rule, with the numbers."""

    columns: tuple[str, ...]
    rule: str  # monotone, linear, bins, classes, derived, reference
    detail: str  # "Spearman rho 1.0000 with the target"

    def line(self, target: str) -> str:
        """``possible target leak: logwage (a monotone function of 'wage': ...)``."""
        named = ", ".join(self.columns) if self.columns else "(columns not identified)"
        return f"possible target leak: {named} ({WHAT[self.rule].format(target=target)}: {self.detail})"


WHAT = {
    "monotone": "a monotone function of {target!r}",
    "linear": "a linear combination of them reproduces {target!r}",
    "bins": "its levels cut {target!r} into disjoint ranges",
    "classes": "its values map one-to-one onto the classes of {target!r}",
    "derived": "each class of {target!r} has one value of it: derived from the target",
    "reference": "the linear reference reproduces {target!r}",
}


def drop_hint(leaks: Sequence[Leak]) -> str:
    """What to do about ``leaks``: ``if they leak, remove a, b from the entry's
    features (or run dataset init again with --exclude a --exclude b)``."""
    names = list(dict.fromkeys(c for leak in leaks for c in leak.columns))
    if not names:
        return "find the features that carry the target and remove them from the entry's features"
    flags = " ".join(f"--exclude {n}" for n in names)
    return (
        f"if they leak, remove {', '.join(names)} from the entry's features "
        f"(or run dataset init again with {flags})"
    )


def find_leaks(
    frame: pd.DataFrame,
    *,
    target: str,
    task: str,
    numeric: Sequence[str],
    categorical: Sequence[str] = (),
    rows: int = SAMPLE_ROWS,
    seed: int = 0,
) -> list[Leak]:
    """The leaks in ``frame`` (raw rows with the ``numeric`` and ``categorical``
    feature columns and the ``target``), on a fixed sample of ``rows`` rows.
    Rows with a blank target are left out; blank feature cells are left out of
    the rank checks and filled with the column's median for the linear fit."""
    frame = frame[frame[target].notna()]
    if len(frame) > rows:
        frame = frame.sample(n=rows, random_state=seed)
    if len(frame) < MIN_ROWS:
        return []
    sub = frame[list(numeric)]
    text = [c for c in sub.columns if not pd.api.types.is_numeric_dtype(sub[c])]
    if text:
        sub = sub.assign(**{c: pd.to_numeric(sub[c], errors="coerce") for c in text})
    x = sub.to_numpy(dtype=float, copy=True)
    x[~np.isfinite(x)] = np.nan
    cats = {c: frame[c].astype("string").to_numpy(dtype=object) for c in categorical}
    if task == "regression":
        y = pd.to_numeric(frame[target], errors="coerce").to_numpy(dtype=float)
        keep = np.isfinite(y)
        x, y = x[keep], y[keep]
        cats = {c: v[keep] for c, v in cats.items()}
        found = _monotone(x, y, list(numeric))
        flagged = {c for leak in found for c in leak.columns}
        rest = [i for i, c in enumerate(numeric) if c not in flagged]
        found += _linear(x[:, rest], y, [numeric[i] for i in rest], seed)
        found += [leak for c, v in cats.items() if (leak := _bins(c, v, y))]
        return found
    labels = pd.factorize(frame[target].astype("string"))[0]
    columns = {**{c: x[:, i] for i, c in enumerate(numeric)}, **cats}
    return [leak for c, v in columns.items() if (leak := _classes(c, v, labels))]


def _monotone(x: np.ndarray, y: np.ndarray, names: list[str]) -> list[Leak]:
    """Spearman's rho of each column with the target, for the columns that can
    reach :data:`MONOTONE_RHO`: those whose values, in the target's order, mostly
    step one way (a vectorised pre-filter; ranking every column of a wide table
    costs seconds)."""
    from scipy import stats

    steps = np.sign(np.diff(x[np.argsort(y, kind="stable")], axis=0))
    up, down = (steps > 0).sum(axis=0), (steps < 0).sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        against = np.minimum(up, down) / (up + down)
    out = []
    for j in np.flatnonzero(np.nan_to_num(against, nan=1.0) <= 0.25):
        has = ~np.isnan(x[:, j])  # ranks within the rows that have a value
        if has.sum() < MIN_ROWS:
            continue
        rho = float(stats.spearmanr(x[has, j], y[has]).statistic)
        if abs(rho) >= MONOTONE_RHO:
            out.append(Leak((names[j],), "monotone", f"Spearman rho {rho:+.4f}"))
    return out


def _pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson r of each column of ``a`` with ``b`` (0 for a constant column)."""
    a = a - a.mean(axis=0)
    b = b - b.mean()
    den = np.sqrt((a**2).sum(axis=0) * (b**2).sum())
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, (a * b[:, None]).sum(axis=0) / den, 0.0)


def _linear(x: np.ndarray, y: np.ndarray, names: list[str], seed: int) -> list[Leak]:
    if not names or np.std(y) == 0:
        return []
    for j in np.flatnonzero(np.isnan(x).any(axis=0)):  # blanks: the column's median
        has = ~np.isnan(x[:, j])
        x[~has, j] = np.median(x[has, j]) if has.any() else 0.0
    sd = x.std(axis=0)
    use = np.flatnonzero(sd > 0)
    order = np.random.default_rng(seed).permutation(len(y))
    fit, check = order[: len(y) // 2], order[len(y) // 2 :]
    room = min(MAX_LINEAR_COLUMNS, len(fit) // 2)  # rows enough for an honest fit
    if use.size == 0 or room < 1:
        return []
    if use.size > room:  # the columns most correlated with the target
        use = use[np.argsort(-np.abs(_pearson(x[:, use], y)), kind="stable")[:room]]
    z = (x[:, use] - x[:, use].mean(axis=0)) / sd[use]
    t = (y - y.mean()) / y.std()
    ones = np.ones((len(t), 1))
    design = np.hstack([ones, z])
    coef, *_ = np.linalg.lstsq(design[fit], t[fit], rcond=None)
    resid = t[check] - design[check] @ coef
    r2 = 1.0 - float(resid @ resid) / float(((t[check] - t[check].mean()) ** 2).sum())
    if r2 < LINEAR_R2:
        return []
    weights = np.abs(coef[1:])
    carriers = [names[use[j]] for j in np.argsort(-weights) if weights[j] >= CARRIER_WEIGHT]
    detail = f"least squares R² {r2:.4f} on rows it was not fitted on"
    return [Leak(tuple(carriers), "linear", detail)]


def _bins(name: str, values: np.ndarray, y: np.ndarray) -> Leak | None:
    has = pd.notna(values)
    codes, levels = pd.factorize(values[has])
    if len(levels) < 2 or has.sum() < MIN_ROWS:
        return None
    t = y[has]
    lo = pd.Series(t).groupby(codes).min().to_numpy()
    hi = pd.Series(t).groupby(codes).max().to_numpy()
    order = np.argsort(lo)
    if np.all(lo[order][1:] > hi[order][:-1]):  # each level's range ends before the next
        return Leak((name,), "bins", f"{len(levels)} levels, no two ranges overlap")
    return None


def _classes(name: str, values: np.ndarray, labels: np.ndarray) -> Leak | None:
    has = pd.notna(values)
    codes, levels = pd.factorize(values[has])
    t = labels[has]
    k = int(np.unique(labels).size)
    if len(levels) < 2 or has.sum() < MIN_ROWS or k < 2:
        return None
    pairs = pd.DataFrame({"v": codes, "c": t}).drop_duplicates()
    classes_per_value = pairs.groupby("v")["c"].nunique()
    values_per_class = pairs.groupby("c")["v"].nunique()
    if len(levels) <= FEW_VALUES and (classes_per_value == 1).all() and len(values_per_class) == k:
        return Leak((name,), "classes", f"{len(levels)} values, {k} classes")
    if (values_per_class == 1).all() and len(values_per_class) == k:
        return Leak((name,), "derived", f"{len(levels)} values, {k} classes")
    return None


def reference_leak(task: str, linear_metrics: dict[str, float]) -> str | None:
    """The linear reference's test score when it reproduces the target: R² >=
    :data:`LINEAR_R2` (regression), log loss <= :data:`LOG_LOSS_FLOOR`
    (classification); else None."""
    if task == "regression":
        r2 = float(linear_metrics.get("test_r2", np.nan))
        return f"ridge regression reaches test R² {r2:.4f}" if r2 >= LINEAR_R2 else None
    loss = float(linear_metrics.get("test_log_loss", np.nan))
    return (
        f"logistic regression reaches test log loss {loss:.2g}" if loss <= LOG_LOSS_FLOOR else None
    )


def carriers(x: np.ndarray, y: np.ndarray, sources: Sequence[str]) -> tuple[str, ...]:
    """The CSV columns (``sources``, one per encoded input) whose inputs carry a
    least-squares fit of ``y`` on ``x``, by standardized coefficient, largest first."""
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float).ravel()
    sd = x.std(axis=0)
    use = np.flatnonzero(sd > 0)
    if use.size == 0 or np.std(y) == 0:
        return ()
    z = (x[:, use] - x[:, use].mean(axis=0)) / sd[use]
    coef, *_ = np.linalg.lstsq(np.hstack([np.ones((len(y), 1)), z]), (y - y.mean()) / y.std())
    weights = np.abs(coef[1:])
    named = [sources[use[j]] for j in np.argsort(-weights) if weights[j] >= CARRIER_WEIGHT]
    return tuple(dict.fromkeys(named))


def in_run(spec, data, linear_metrics: dict[str, float]) -> list[Leak]:
    """The leaks of a run: :func:`find_leaks` on its training rows (``data``: the
    ``features.Encoded`` of ``spec``), and, when those find none, the linear
    reference's test score (``linear_metrics``) with the columns that carry a
    least-squares fit of the encoded training rows (regression)."""
    categorical = set(spec.categorical)
    numeric = [c for c in spec.features if c not in categorical and c not in set(spec.dates)]
    found = find_leaks(
        data.split.train, target=spec.target, task=spec.task, numeric=numeric,
        categorical=[c for c in spec.features if c in categorical],
    )  # fmt: skip
    said = reference_leak(spec.task, linear_metrics)
    if found or said is None:
        return found
    named = (
        carriers(data.x_train, data.y_train_true, data.pre.input_sources)
        if spec.task == "regression"
        else ()
    )
    return [Leak(named, "reference", said)]

"""The drift reference: a small JSON *profile* of a frame (:func:`profile`), the form
a model's training data travels in, and the check that a stored one can be read.

What a profile holds
--------------------
Per column (the features, then the target), ``kind`` is ``"numeric"`` for a
feature not listed as categorical and for a regression target, else
``"categorical"``:

* numeric: ``edges``, the finite *inner* bin edges -- the quantiles of the
  column at ``0, 1/bins, ..., 1``, deduplicated, without the first and the last
  (in use the outer edges are ``-inf`` and ``+inf``, so today's values outside
  the old range land in the outer bins). A column with at most ``bins``
  distinct values gets one bin per value instead (edges at the midpoints), so a
  0/1 indicator such as Boston's ``chas`` keeps its two bins where its
  quantiles would collapse to one; a constant column has one bin. A value on
  an edge belongs to the bin on its right. ``fractions`` is the fraction of
  *all rows* in each bin; with ``null_fraction`` they sum to 1. Also ``mean``,
  ``std`` (``ddof=1``), ``min``, ``max`` of the values.
* categorical: ``frequencies``, the fraction of all rows holding each category
  (keys are strings; an integral float ``1.0`` is the key ``"1"``, so a column
  read as float because of a null keeps its keys), and ``null_fraction``.
* ``relation`` (features only), the feature's relation to the target:

  ========================  =====================  ==================================
  target                    numeric feature        categorical feature
  ========================  =====================  ==================================
  regression (numeric)      Spearman's rho         eta of the target over the
                            (signed, in [-1, 1])   feature's categories, in [0, 1]
  classification            eta of the feature     Cramer's V (uncorrected chi-square),
                            over the classes       in [0, 1]
  ========================  =====================  ==================================

  eta is the correlation ratio ``sqrt(between-group / total sum of squares)``.
  Rows where either value is null are left out; a constant feature or target
  gives 0.0; fewer than two complete rows give ``None``.

Numeric values are read with ``pd.to_numeric(errors="coerce")``; a value that
is not a finite number (text, NaN, +-inf) counts as null. A profile holds only
finite floats, ints, strings and ``None`` (``json.dumps(..., allow_nan=False)``
accepts it).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from bnpipe.catalog import TASKS
from bnpipe.drift.buckets import bin_fractions, edges, frequencies
from bnpipe.drift.columns import column_values, finite_or_none
from bnpipe.drift.relations import relation

VERSION = 1
"""The profile format this module writes and reads."""


def profile(
    df: pd.DataFrame,
    *,
    features: Sequence[str],
    categorical: Sequence[str],
    target: str,
    task: str,
    bins: int = 10,
) -> dict:
    """A JSON-ready profile of ``df``: the reference a model's data travels as.

    ``features``, ``categorical``, ``target`` and ``task`` are a catalog entry's
    (CSV column names, before ``rename``). Raises ``ValueError`` for an empty
    frame, a missing column, an unknown task or fewer than one bin.
    """
    features, categorical = list(features), list(categorical)
    if task not in TASKS:
        raise ValueError(f"task must be one of {', '.join(TASKS)}, got {task!r}")
    if isinstance(bins, bool) or not isinstance(bins, int) or bins < 1:
        raise ValueError(f"bins must be a positive integer, got {bins!r}")
    if target in features:
        raise ValueError(f"the target {target!r} must not be among the features")
    if not set(categorical) <= set(features):
        extra = sorted(set(categorical) - set(features))
        raise ValueError(f"categorical columns must be features; not features: {extra}")
    if len(df) == 0:
        raise ValueError("cannot profile an empty frame (0 rows)")
    absent = [c for c in [*features, target] if c not in df.columns]
    if absent:
        raise ValueError(f"cannot profile: the frame has no column(s) {absent}")

    rows = len(df)
    target_kind = "numeric" if task == "regression" else "categorical"
    target_values = column_values(df[target], target_kind)
    columns: dict[str, dict] = {}
    for name in [*features, target]:
        role = "target" if name == target else "feature"
        kind = target_kind if role == "target" else _feature_kind(name, categorical)
        values = target_values if role == "target" else column_values(df[name], kind)
        entry = _describe(values, kind, rows, bins)
        entry = {"role": role, **entry}
        if role == "feature":
            entry["relation"] = relation(values, kind, target_values, target_kind)
        columns[name] = entry
    return {
        "version": VERSION,
        "rows": rows,
        "task": task,
        "target": target,
        "bins": bins,
        "columns": columns,
    }


def _feature_kind(name: str, categorical: Sequence[str]) -> str:
    return "categorical" if name in categorical else "numeric"


def _describe(values: np.ndarray, kind: str, rows: int, bins: int) -> dict:
    if kind == "categorical":
        nulls = sum(1 for v in values if v is None)
        return {
            "kind": kind,
            "null_fraction": nulls / rows,
            "frequencies": frequencies(values, rows),
        }
    finite = values[~np.isnan(values)]
    inner = edges(values, bins)
    return {
        "kind": kind,
        "null_fraction": float(np.isnan(values).sum()) / rows,
        "edges": inner,
        "fractions": bin_fractions(values, inner, rows),
        "mean": finite_or_none(finite.mean()) if finite.size else None,
        "std": finite_or_none(finite.std(ddof=1)) if finite.size > 1 else None,
        "min": finite_or_none(finite.min()) if finite.size else None,
        "max": finite_or_none(finite.max()) if finite.size else None,
    }


def check_reference(reference) -> None:
    """Raise ``ValueError`` unless ``reference`` is a profile of this format version."""
    if not isinstance(reference, Mapping):
        raise ValueError(f"a drift reference must be a profile mapping, got {type(reference)}")
    version = reference.get("version")
    if version != VERSION:
        raise ValueError(
            f"drift reference profile has format version {version!r}; this bnpipe reads "
            f"version {VERSION} (profile it again with bnpipe.drift.profile)"
        )
    missing = [k for k in ("rows", "task", "target", "columns") if k not in reference]
    if missing or reference["task"] not in TASKS or not isinstance(reference["columns"], Mapping):
        raise ValueError(
            f"drift reference profile is malformed (missing or bad: {missing or 'task/columns'})"
        )

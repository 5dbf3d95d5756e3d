"""Draft a first expectation suite from a user's CSV (``bnpipe dataset init``).

:func:`draft_suite` writes GX expectations and bnpipe's sanity rules
(:mod:`bnpipe.sanity`) that the data itself passes; the draft wants human review
before anyone relies on it.
"""

from __future__ import annotations

import math

import pandas as pd

from bnpipe.sanity import (
    _FLOAT32_MAX,
    CLASS_COUNTS_RULE,
    FINITE_RULE,
    NEAR_REFERENCE_RULE,
    _as_float,
)
from bnpipe.validation import _DUPLICATES_RULE, _UNIQUE_COUNT_RULE
from bnpipe.values import _plain, _sorted, _unique

#: Column dtypes accepted as "numeric" by the suites (pandas 3 + nullable dtypes).
NUMERIC_TYPES = [
    "int64",
    "int32",
    "float64",
    "float32",
    "Int64Dtype",
    "Int32Dtype",
    "Float64Dtype",
    "Float32Dtype",
]


def draft_suite(
    df: pd.DataFrame, name: str, *, target: str, task: str, categorical: list[str]
) -> dict:
    """Draft a suite from the data itself; it passes on ``df`` and wants human review.

    Columns in order; not-null where there are no nulls; numeric dtypes; observed
    ranges widened by 10% (kept >= 0 when the data is); value sets for categorical
    columns and a classification target; at least half the rows (and >= 10). And the
    sanity rules: finite numbers, at least 2 distinct values per feature, every class
    of a classification target at least min(10, its rarest class) times, at most 10%
    duplicated rows, and a row count within 0.5x..2x of the last good snapshot's. A
    sanity rule that the data itself breaks (a constant feature, +-inf) is not drafted.
    """
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification', not {task!r}")
    unknown = [c for c in [target, *categorical] if c not in df.columns]
    if unknown:
        raise ValueError(f"{name}: columns {unknown} are not in the data {list(df.columns)}")
    as_set = set(categorical) | ({target} if task == "classification" else set())
    skipped: list[str] = []  # sanity rules the data itself breaks

    exps: list[dict] = [
        _exp("expect_table_columns_to_match_ordered_list", column_list=[str(c) for c in df.columns])
    ]
    for column in df.columns:
        series = df[column]
        if series.notna().all():
            exps.append(_exp("expect_column_values_to_not_be_null", column=column))
        numeric = pd.api.types.is_numeric_dtype(series) and not pd.api.types.is_bool_dtype(series)
        if numeric:
            exps.append(
                _exp(
                    "expect_column_values_to_be_in_type_list",
                    column=column,
                    type_list=NUMERIC_TYPES,
                )
            )
            if (_as_float(series).dropna().abs() <= _FLOAT32_MAX).all():
                exps.append(_exp(FINITE_RULE, column=column))
            else:
                skipped.append(f"finite values in {column!r}")
        if column in as_set or pd.api.types.is_bool_dtype(series):
            values = _sorted(_unique(_plain(v) for v in series.dropna().unique()))
            exps.append(_exp("expect_column_values_to_be_in_set", column=column, value_set=values))
        elif numeric and series.notna().any():
            lo, hi = float(series.min()), float(series.max())
            if math.isfinite(lo) and math.isfinite(hi):  # +-inf: no range the data would pass
                lo, hi = _widened(lo, hi)
                exps.append(
                    _exp(
                        "expect_column_values_to_be_between",
                        column=column,
                        min_value=lo,
                        max_value=hi,
                    )
                )
        if column == target and task == "classification" and series.notna().any():
            values = _sorted(_unique(_plain(v) for v in series.dropna().unique()))
            rarest = int(series.value_counts().min())
            exps.append(
                _exp(
                    CLASS_COUNTS_RULE,
                    column=column,
                    value_set=values,
                    min_value=max(1, min(10, rarest)),
                )
            )
        if column != target:
            if _distinct(series) >= 2:
                exps.append(_exp(_UNIQUE_COUNT_RULE, column=column, min_value=2))
            else:
                skipped.append(f"at least 2 distinct values in {column!r}")

    rows = len(df)
    exps.append(
        _exp("expect_table_row_count_to_be_between", min_value=min(rows, max(10, rows // 2)))
    )
    if _duplicated_share(df) < 0.1 - 1e-9:
        exps.append(_exp(_DUPLICATES_RULE, column_list=[str(c) for c in df.columns], mostly=0.9))
    else:
        skipped.append("at most 10% duplicated rows")
    exps.append(_exp(NEAR_REFERENCE_RULE, min_ratio=0.5, max_ratio=2.0))
    notes = (
        f"Drafted by bnpipe from {rows} rows of {name} (target {target!r}, {task}). "
        "Ranges are the observed min/max widened by 10%: review them, and the "
        "value sets, before relying on this suite."
    )
    if skipped:
        notes += " Not drafted, since this data breaks them: " + "; ".join(skipped) + "."
    return {"name": name, "expectations": exps, "meta": {"notes": notes}}


def _distinct(series: pd.Series) -> int:
    try:
        return int(series.nunique(dropna=True))
    except TypeError:  # unhashable cells
        return int(series.dropna().map(repr).nunique())


def _duplicated_share(df: pd.DataFrame) -> float:
    """Share of rows in a duplicated combination of all columns (as GX counts them)."""
    if not len(df):
        return 0.0
    try:
        return float(df.duplicated(keep=False).mean())
    except TypeError:  # unhashable cells
        return float(df.map(repr).duplicated(keep=False).mean())


def _exp(rule: str, **kwargs) -> dict:
    return {"type": rule, "kwargs": kwargs, "meta": {}}


def _widened(lo: float, hi: float, margin: float = 0.1) -> tuple[float, float]:
    """[lo, hi] widened by ``margin`` of the range, rounded outward; >= 0 stays >= 0."""
    pad = (hi - lo) * margin or abs(hi) * margin or 1.0
    step = 10.0 ** math.floor(math.log10(pad))
    digits = max(0, -math.floor(math.log10(step)))
    new_lo = round(math.floor((lo - pad) / step) * step, digits)
    new_hi = round(math.ceil((hi + pad) / step) * step, digits)
    if lo >= 0:
        new_lo = max(new_lo, 0.0)
    return new_lo, new_hi

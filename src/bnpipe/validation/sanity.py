"""bnpipe's own "sanity" rules, checked in pandas.

Besides GX's own expectation types a suite may hold rules for data that passes the
schema column by column but is wrong (``docs/gate.md``). Their types start with
``bnpipe_``; :func:`bnpipe.validation.validate` checks their kwargs when it reads the
suite (a malformed rule is a broken suite, not bad data) and evaluates them here,
generically from the suite's JSON, into the same :class:`~bnpipe.validation.Failure`
records as GX's results:

- ``bnpipe_expect_column_values_to_be_finite`` (``column``): every number is finite
  and within float32 range (what the model trains on).
- ``bnpipe_expect_column_value_counts_to_be_at_least`` (``column``, ``value_set``,
  ``min_value``): every class of ``value_set`` occurs at least ``min_value`` times.
- ``bnpipe_expect_row_count_to_be_near_reference`` (``min_ratio``, ``max_ratio``): the
  row count is within [min_ratio, max_ratio] x the last good snapshot's row count,
  passed as ``validate(..., reference_rows=n)``; without it the rule is not evaluated.

Two rules come from the catalog entry rather than the suite (``bnpipe.data_checks``
adds them to the report): blank cells under ``missing: error``
(:func:`missing_policy_failures`), and a target with fewer than 2 distinct values
(:func:`constant_target`; ``dataset init`` refuses one too).

Why not GX built-ins (1.24): GX has no finiteness rule, and
``expect_column_values_to_be_between`` at +-float32 max cannot check a column read
as text at all (it raises on mixed types; we parse what is a number and leave text
to the type rule) and words its failure as a 39-digit range. GX can require that
classes occur (``expect_column_distinct_values_to_contain_set``) but not that each
occurs at least n times (and this rule counts a CSV's "1", 1 and 1.0 as one class).
GX's row-count rules take absolute bounds (or another table to equal); this one is
a ratio of a number known only at run time, and is skipped when there is none (the
first download, a check by hand).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np
import pandas as pd

from bnpipe.validation.report import Failure
from bnpipe.values import _examples, _join, _number, _plain, _unique_by_key

#: Rule types evaluated by bnpipe itself (in pandas), not by GX.
CUSTOM_PREFIX = "bnpipe_"
FINITE_RULE = "bnpipe_expect_column_values_to_be_finite"
CLASS_COUNTS_RULE = "bnpipe_expect_column_value_counts_to_be_at_least"
NEAR_REFERENCE_RULE = "bnpipe_expect_row_count_to_be_near_reference"
_CUSTOM_KWARGS = {  # rule -> its kwargs (all required)
    FINITE_RULE: ("column",),
    CLASS_COUNTS_RULE: ("column", "value_set", "min_value"),
    NEAR_REFERENCE_RULE: ("min_ratio", "max_ratio"),
}
_FLOAT32_MAX = float(np.finfo(np.float32).max)  # 3.4028234663852886e38


def _describe(rule: str, kw: dict) -> str:
    """A bnpipe rule in human words (:func:`bnpipe.validation._describe` asks here)."""
    if rule == FINITE_RULE:
        return "values must be finite (no ±inf, |x| within float32 range)"
    if rule == CLASS_COUNTS_RULE:
        values = _join(_plain(v) for v in kw.get("value_set") or [])
        return f"each of {values} must occur at least {_number(kw.get('min_value'))} times"
    if rule == NEAR_REFERENCE_RULE:
        lo, hi = _number(kw.get("min_ratio")), _number(kw.get("max_ratio"))
        reference = kw.get("reference_rows")
        rows = f"{reference} rows" if reference is not None else "row count"
        return f"row count must be within {lo}x..{hi}x of the last good snapshot's {rows}"
    raise ValueError(f"not a bnpipe rule: {rule}")


def _failed(
    column: str | None, rule: str, detail: str, offending: list, count: int | None
) -> Failure:
    """A :class:`~bnpipe.validation.Failure`."""
    return Failure(column, rule, detail, offending, count)


def _check_custom_kwargs(expectation: dict, where: str) -> None:
    """A malformed ``bnpipe_`` rule is a broken suite, not bad data: fail loudly."""
    rule, kw = expectation["type"], expectation["kwargs"]
    if rule not in _CUSTOM_KWARGS:
        known = ", ".join(_CUSTOM_KWARGS)
        raise ValueError(f"{where}: unknown bnpipe rule type (known: {known})")
    wanted = _CUSTOM_KWARGS[rule]
    absent = [k for k in wanted if k not in kw]
    extra = [k for k in kw if k not in wanted]
    if absent or extra:
        raise ValueError(
            f"{where}: kwargs must be exactly {list(wanted)}"
            + (f"; missing {absent}" if absent else "")
            + (f"; unexpected {extra}" if extra else "")
        )

    def number(key: str) -> float:
        value = kw[key]
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"{where}: {key} must be a number >= 0, not {value!r}")
        return float(value)

    if "column" in kw and not isinstance(kw["column"], str):
        raise ValueError(f"{where}: column must be a string, not {kw['column']!r}")
    if rule == CLASS_COUNTS_RULE:
        if not isinstance(kw["value_set"], list) or not kw["value_set"]:
            raise ValueError(f"{where}: value_set must be a non-empty list")
        number("min_value")
    if rule == NEAR_REFERENCE_RULE and number("min_ratio") > number("max_ratio"):
        raise ValueError(f"{where}: min_ratio must not exceed max_ratio")


def _check_finite(df: pd.DataFrame, kw: dict, _reference_rows: int | None) -> Failure | None:
    """Parsed numbers must be finite and fit float32; text is the type rule's business."""
    column = kw["column"]
    series = df[column]
    values = _as_float(series)
    bad = values.notna() & ~(values.abs() <= _FLOAT32_MAX)  # NaN compares False: +-inf
    if not bad.any():
        return None
    detail = _describe(FINITE_RULE, kw)
    return _failed(column, FINITE_RULE, detail, _examples(series[bad].tolist()), int(bad.sum()))


def _as_float(series: pd.Series) -> pd.Series:
    """``series`` as float64: numbers kept, unparseable text NaN, overflow +-inf."""
    if pd.api.types.is_bool_dtype(series):
        return series.astype("float64")
    try:
        return pd.to_numeric(series, errors="coerce").astype("float64")
    except (TypeError, ValueError, OverflowError):  # ints too large for a float, odd cells
        return pd.Series([_to_float(v) for v in series], index=series.index, dtype="float64")


def _to_float(value: Any) -> float:
    try:
        return float(pd.to_numeric(value))
    except OverflowError:
        return -math.inf if str(value).strip().startswith("-") else math.inf
    except (TypeError, ValueError):
        return math.nan


def _check_class_counts(df: pd.DataFrame, kw: dict, _reference_rows: int | None) -> Failure | None:
    """Every value of ``value_set`` occurs at least ``min_value`` times."""
    column, least = kw["column"], kw["min_value"]
    wanted = _unique_by_key(kw["value_set"], _class_key)
    series = df[column].dropna()
    try:
        observed = series.value_counts()
    except TypeError:  # unhashable cells
        observed = series.map(repr).value_counts()
    by_key: dict = {}
    for value, n in observed.items():
        key = _class_key(value)
        by_key[key] = by_key.get(key, 0) + int(n)
    found = [(value, by_key.get(_class_key(value), 0)) for value in wanted]
    short = [value for value, n in found if n < least]
    if not short:
        return None
    counts = "{" + ", ".join(f"{_plain(v)!r}: {n}" for v, n in found) + "}"
    detail = f"{_describe(CLASS_COUNTS_RULE, kw)}; found {counts}"
    return _failed(column, CLASS_COUNTS_RULE, detail, _examples(short), None)


def _class_key(value: Any) -> tuple:
    """A comparison key under which a CSV's "1", 1 and 1.0 (or "True" and True) agree."""
    value = _plain(value)
    if isinstance(value, bool):
        return ("bool", value)
    if isinstance(value, str):
        text = value.strip()
        if text.lower() in ("true", "false"):
            return ("bool", text.lower() == "true")
        try:
            number = float(text)
        except (ValueError, OverflowError):
            return ("str", value)
        return ("num", number) if math.isfinite(number) else ("str", value)
    if isinstance(value, int | float):
        try:
            return ("num", float(value))
        except OverflowError:
            return ("str", str(value))
    return ("other", repr(value))


def _check_near_reference(df: pd.DataFrame, kw: dict, reference_rows: int | None) -> Failure | None:
    """The row count is within [min_ratio, max_ratio] x the last good snapshot's."""
    rows = len(df)
    if reference_rows is None or kw["min_ratio"] * reference_rows <= rows <= (
        kw["max_ratio"] * reference_rows
    ):
        return None
    detail = _describe(NEAR_REFERENCE_RULE, {**kw, "reference_rows": reference_rows})
    return _failed(None, NEAR_REFERENCE_RULE, f"{detail}; found {rows}", [], None)


_CUSTOM_CHECKS = {
    FINITE_RULE: _check_finite,
    CLASS_COUNTS_RULE: _check_class_counts,
    NEAR_REFERENCE_RULE: _check_near_reference,
}


MISSING_POLICY_RULE = "bnpipe_missing_policy"


def missing_policy_failures(
    df: pd.DataFrame, spec, reported: set[str] = frozenset()
) -> list[Failure]:
    """Blank cells where the catalog's ``missing`` policy is ``error`` (features; the
    target too when the dataset's policy is ``error``: blank targets are never trained
    on). Columns that are absent, or in ``reported`` (the suite's not-null rule already
    failed on them), are left to the suite."""
    failures = []
    columns = [c for c in spec.features if spec.missing_policy(c) == "error"]
    if spec.missing == "error":
        columns.append(spec.target)
    for column in columns:
        if column not in df.columns or column in reported:
            continue
        blanks = int(df[column].isna().sum())
        if blanks:
            rows = [int(i) + 2 for i in np.flatnonzero(df[column].isna().to_numpy())[:5]]
            failures.append(
                _failed(
                    column,
                    MISSING_POLICY_RULE,
                    f"blank cells are not allowed (missing: error): {blanks} blank cell"
                    f"{'s' if blanks != 1 else ''}, e.g. on CSV lines {rows}",
                    [],
                    None,
                )
            )
    return failures


TARGET_VARIES_RULE = "bnpipe_target_varies"


def constant_target(target: pd.Series) -> str | None:
    """Why a target with fewer than 2 distinct values (one class only, or the same
    number on every row) leaves nothing to learn, in words; None when it varies.
    Rows with a blank target are not trained on, so they do not count."""
    values = target.dropna()
    try:
        distinct = int(values.nunique())
    except TypeError:  # unhashable cells
        distinct = int(values.map(repr).nunique())
    if distinct >= 2:
        return None
    rule = "the target must have at least 2 distinct values"
    if not distinct:
        return f"{rule}; every row's target is blank"
    rows = f"all {len(values)} rows" + ("" if len(values) == len(target) else " with a target")
    return (
        f"{rule} (a constant target leaves nothing to learn); "
        f"found only {_plain(values.iloc[0])!r}, on {rows}"
    )


def target_failures(df: pd.DataFrame, spec) -> list[Failure]:
    """:func:`constant_target` as a failure (an absent target is left to the suite)."""
    if spec.target not in df.columns:
        return []
    why = constant_target(df[spec.target])
    return [] if why is None else [_failed(spec.target, TARGET_VARIES_RULE, why, [], None)]

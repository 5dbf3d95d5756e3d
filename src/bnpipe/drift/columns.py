"""A column's values as drift reads them: finite numbers (anything else is null)
or category keys (strings, the same for ``1``, ``1.0`` and ``"1"``)."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd


def column_values(series: pd.Series, kind: str) -> np.ndarray:
    """The column as ``kind`` (``"numeric"`` or ``"categorical"``) reads it."""
    return numbers(series) if kind == "numeric" else categories(series)


def present(values: np.ndarray, kind: str) -> np.ndarray:
    """Mask of the non-null entries of a column from :func:`column_values`."""
    if kind == "numeric":
        return ~np.isnan(values)
    return np.array([v is not None for v in values], dtype=bool)


def numbers(series: pd.Series) -> np.ndarray:
    """The column as floats, with anything that is not a finite number as NaN."""
    values = pd.to_numeric(series, errors="coerce")
    out = pd.Series(values).to_numpy(dtype=float, na_value=np.nan, copy=True)
    out[~np.isfinite(out)] = np.nan
    return out


def key(value) -> str:
    """A category's key in a profile: a string, the same for ``1``, ``1.0`` and ``"1"``."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(value)


def categories(series: pd.Series) -> np.ndarray:
    """The column as an object array of string keys, with ``None`` for nulls."""
    return np.array([None if _isnull(v) else key(v) for v in series], dtype=object)


def _isnull(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array in a cell is a value
        return False


def finite_or_none(value) -> float | None:
    """``value`` as a float, or None when it is not finite (a profile holds no NaN)."""
    f = float(value)
    return f if math.isfinite(f) else None

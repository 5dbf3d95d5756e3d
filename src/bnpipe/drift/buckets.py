"""The buckets a column's distribution is held in (a numeric column's bins, a
categorical column's categories) and the population stability index over them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

EPSILON = 1e-4
"""Floor of a bucket's fraction in the PSI (empty bins, unseen categories)."""


def edges(values: np.ndarray, bins: int) -> list[float]:
    """Finite inner bin edges of the non-null ``values`` (see :mod:`bnpipe.drift.profiles`)."""
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return []
    distinct = np.unique(finite)
    if distinct.size <= bins:
        return [float(x) for x in (distinct[:-1] + distinct[1:]) / 2.0]
    quantiles = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)))
    return [float(x) for x in quantiles[1:-1]]


def bin_fractions(values: np.ndarray, edges: Sequence[float], rows: int) -> list[float]:
    """Fraction of all ``rows`` in each bin; nulls fall in none."""
    finite = values[~np.isnan(values)]
    index = np.searchsorted(np.asarray(edges, dtype=float), finite, side="right")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return [float(c) / rows for c in counts]


def frequencies(keys: np.ndarray, rows: int) -> dict[str, float]:
    """Fraction of all ``rows`` holding each key (nulls, ``None``, hold none), by key."""
    present = [k for k in keys if k is not None]
    counts = pd.Series(present, dtype=object).value_counts(sort=False)
    return {str(k): float(c) / rows for k, c in sorted(counts.items())}


def psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    """``sum((a - e) * ln(a / e))`` over the buckets, fractions floored at ``EPSILON``."""
    e = np.maximum(np.asarray(expected, dtype=float), EPSILON)
    a = np.maximum(np.asarray(actual, dtype=float), EPSILON)
    return max(0.0, float(np.sum((a - e) * np.log(a / e))))


def column_psi(ref: Mapping, values: np.ndarray, kind: str, rows: int) -> tuple[float, str]:
    """PSI of today's ``values`` over the reference column's buckets, and a note."""
    notes = []
    ref_null = float(ref.get("null_fraction", 0.0))
    if kind == "numeric":
        nulls = int(np.isnan(values).sum())
        expected = [*map(float, ref["fractions"]), ref_null]
        actual = [*bin_fractions(values, ref["edges"], rows), nulls / rows]
    else:
        nulls = sum(1 for v in values if v is None)
        freq: Mapping[str, float] = ref["frequencies"]
        today = frequencies(values, rows)
        unseen = {k: f for k, f in today.items() if k not in freq}
        expected = [*map(float, freq.values()), ref_null, 0.0]
        actual = [*(today.get(k, 0.0) for k in freq), nulls / rows, sum(unseen.values())]
        if unseen:
            shown = ", ".join(repr(k) for k in list(unseen)[:5])
            more = f" and {len(unseen) - 5} more" if len(unseen) > 5 else ""
            notes.append(
                f"categories unseen in the reference: {shown}{more} "
                f"({sum(unseen.values()):.1%} of rows)"
            )
    if nulls == rows:
        notes.append("all values null today")
    return psi(expected, actual), "; ".join(notes)

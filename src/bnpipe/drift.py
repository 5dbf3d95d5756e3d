"""Data drift: today's snapshot against the data the champion was trained on.

The reference travels with the champion as a small JSON *profile* of its
training data (:func:`profile`, logged on the champion's MLflow run), so drift
is measured from any host without the old file. :func:`compare` puts today's
frame against such a profile and returns a :class:`DriftReport`.

Both take the frame with its columns as in the CSV, before the catalog's
``rename``.

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

How a column is compared
------------------------
The distance is the population stability index over the reference's buckets,
``PSI = sum((a - e) * ln(a / e))`` with ``e`` the reference's and ``a`` today's
fraction of rows per bucket; the buckets are the bins (numeric) or categories
(categorical), plus one for nulls, plus for a categorical column one "other"
bucket pooling today's categories unseen in the reference (its reference
fraction is 0). Fractions are floored at ``EPSILON`` (1e-4) so an empty bucket
gives a finite PSI. Rules of thumb: below 0.1 little change, 0.1-0.25 some,
above 0.25 a real shift. The same frame against its own profile has PSI 0.

The relation change of a feature is ``|relation_today - relation_reference|``:
it catches a target that no longer goes with its features (a shuffled or
mis-joined label column) although every marginal is unchanged.

A column is at level ``"block"`` when ``psi > block`` or
``relation_change > relation_block``, at ``"warn"`` when over the warn levels,
else ``"ok"``; a column in the reference but missing today, or today but not in
the reference, is ``"block"`` with a note. The report's level is the worst.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

VERSION = 1
"""The profile format this module writes and reads."""

TASKS = ("regression", "classification")
LEVELS = ("ok", "warn", "block")
EPSILON = 1e-4
"""Floor of a bucket's fraction in the PSI (empty bins, unseen categories)."""

DEFAULT_LEVELS: dict[str, float] = {
    "warn": 0.2,
    "block": 1.0,
    "relation_warn": 0.2,
    "relation_block": 0.4,
}
"""Default thresholds of :func:`compare`; a catalog entry's ``drift:`` overrides
them key by key (``compare(ref, df, **{**DEFAULT_LEVELS, **spec.drift})``).

Measured on the real data (``tests/unit/test_drift.py``), bootstrap resamples
against the original's profile: over 1000 resamples the 99th percentiles of the
largest PSI / relation change were 0.055 / 0.138 (Boston, 506 rows) and
0.196 / 0.114 (iris, 150 rows; the worst single resample 0.30 / 0.21). So
sampling noise stays far below the block levels and mostly below the warn
levels (iris touches warn about once in a hundred resamples), while a 2-std
shift of one feature (PSI ~4) or a shuffled target (relation changes of
0.4-0.9) blocks."""

# MLflow (mlflow.utils.validation) allows ``[/\w.\- :]`` in metric names (no colon on
# Windows), where ``\w`` is Unicode-aware, so Korean column names stay as they are.
# Slashes and colons are replaced too: a slash makes a name a path that MLflow also
# checks, and a colon is refused on Windows.
_METRIC_BAD = re.compile(r"[^\w.\- ]")
_METRIC_MAX = 250  # mlflow.utils.validation.MAX_ENTITY_KEY_LENGTH


# --------------------------------------------------------------------------- values


def _numeric(series: pd.Series) -> np.ndarray:
    """The column as floats, with anything that is not a finite number as NaN."""
    values = pd.to_numeric(series, errors="coerce")
    out = pd.Series(values).to_numpy(dtype=float, na_value=np.nan, copy=True)
    out[~np.isfinite(out)] = np.nan
    return out


def _key(value) -> str:
    """A category's key in a profile: a string, the same for ``1``, ``1.0`` and ``"1"``."""
    if isinstance(value, bool | np.bool_):
        return str(bool(value))
    if isinstance(value, int | np.integer):
        return str(int(value))
    if isinstance(value, float | np.floating):
        f = float(value)
        return str(int(f)) if f.is_integer() else repr(f)
    return str(value)


def _categories(series: pd.Series) -> np.ndarray:
    """The column as an object array of string keys, with ``None`` for nulls."""
    return np.array([None if _isnull(v) else _key(v) for v in series], dtype=object)


def _isnull(value) -> bool:
    try:
        return bool(pd.isna(value))
    except (TypeError, ValueError):  # a list or array in a cell is a value
        return False


def _float(value) -> float | None:
    f = float(value)
    return f if math.isfinite(f) else None


# --------------------------------------------------------------------------- bins


def _edges(values: np.ndarray, bins: int) -> list[float]:
    """Finite inner bin edges of the non-null ``values`` (see the module docstring)."""
    finite = values[~np.isnan(values)]
    if finite.size == 0:
        return []
    distinct = np.unique(finite)
    if distinct.size <= bins:
        return [float(x) for x in (distinct[:-1] + distinct[1:]) / 2.0]
    quantiles = np.unique(np.quantile(finite, np.linspace(0.0, 1.0, bins + 1)))
    return [float(x) for x in quantiles[1:-1]]


def _bin_fractions(values: np.ndarray, edges: Sequence[float], rows: int) -> list[float]:
    """Fraction of all ``rows`` in each bin; nulls fall in none."""
    finite = values[~np.isnan(values)]
    index = np.searchsorted(np.asarray(edges, dtype=float), finite, side="right")
    counts = np.bincount(index, minlength=len(edges) + 1)
    return [float(c) / rows for c in counts]


def _frequencies(keys: np.ndarray, rows: int) -> dict[str, float]:
    present = [k for k in keys if k is not None]
    counts = pd.Series(present, dtype=object).value_counts(sort=False)
    return {str(k): float(c) / rows for k, c in sorted(counts.items())}


# --------------------------------------------------------------------------- relations


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


def _relation(
    feature: np.ndarray, feature_kind: str, target: np.ndarray, target_kind: str
) -> float | None:
    """The feature's relation to the target (see the module docstring's table)."""
    ok = _present(feature, feature_kind) & _present(target, target_kind)
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
    return _float(value)


def _present(values: np.ndarray, kind: str) -> np.ndarray:
    """Mask of the non-null entries of a column from :func:`_column_values`."""
    if kind == "numeric":
        return ~np.isnan(values)
    return np.array([v is not None for v in values], dtype=bool)


# --------------------------------------------------------------------------- profile


def _column_values(series: pd.Series, kind: str) -> np.ndarray:
    return _numeric(series) if kind == "numeric" else _categories(series)


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
    target_values = _column_values(df[target], target_kind)
    columns: dict[str, dict] = {}
    for name in [*features, target]:
        role = "target" if name == target else "feature"
        kind = target_kind if role == "target" else _feature_kind(name, categorical)
        values = target_values if role == "target" else _column_values(df[name], kind)
        entry = _describe(values, kind, rows, bins)
        entry = {"role": role, **entry}
        if role == "feature":
            entry["relation"] = _relation(values, kind, target_values, target_kind)
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
            "frequencies": _frequencies(values, rows),
        }
    finite = values[~np.isnan(values)]
    edges = _edges(values, bins)
    return {
        "kind": kind,
        "null_fraction": float(np.isnan(values).sum()) / rows,
        "edges": edges,
        "fractions": _bin_fractions(values, edges, rows),
        "mean": _float(finite.mean()) if finite.size else None,
        "std": _float(finite.std(ddof=1)) if finite.size > 1 else None,
        "min": _float(finite.min()) if finite.size else None,
        "max": _float(finite.max()) if finite.size else None,
    }


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class ColumnDrift:
    """One column of today's frame against the reference profile.

    ``psi`` is ``None`` when the column is missing on one side;
    ``relation_*`` are ``None`` for the target and where undefined (fewer than
    two complete rows, a missing column).
    """

    column: str
    kind: str  # "numeric" | "categorical"
    role: str  # "feature" | "target"
    psi: float | None
    relation_ref: float | None
    relation_today: float | None
    relation_change: float | None
    level: str  # "ok" | "warn" | "block"
    note: str = ""

    def to_dict(self) -> dict:
        return {
            "column": self.column,
            "kind": self.kind,
            "role": self.role,
            "psi": self.psi,
            "relation_ref": self.relation_ref,
            "relation_today": self.relation_today,
            "relation_change": self.relation_change,
            "level": self.level,
            "note": self.note,
        }


@dataclass(frozen=True)
class DriftReport:
    """Today's frame against a reference profile, column by column (see the module docstring)."""

    level: str  # the worst column level: "ok" | "warn" | "block"
    columns: tuple[ColumnDrift, ...]
    reference_rows: int
    rows: int
    warn: float
    block: float
    relation_warn: float
    relation_block: float

    def column(self, name: str) -> ColumnDrift:
        """The entry of one column; ``KeyError`` when the report has none."""
        for c in self.columns:
            if c.column == name:
                return c
        raise KeyError(name)

    def _largest(self, attr: str) -> tuple[float, str] | None:
        values = [(getattr(c, attr), c.column) for c in self.columns]
        values = [(v, name) for v, name in values if v is not None]
        return max(values, key=lambda pair: pair[0]) if values else None

    def to_dict(self) -> dict:
        """JSON-ready (``drift.json``): thresholds, columns, summary and reasons."""
        return {
            "version": VERSION,
            "level": self.level,
            "rows": self.rows,
            "reference_rows": self.reference_rows,
            "levels": {
                "warn": self.warn,
                "block": self.block,
                "relation_warn": self.relation_warn,
                "relation_block": self.relation_block,
            },
            "summary": self.summary(),
            "reasons": self.reasons(),
            "columns": [c.to_dict() for c in self.columns],
        }

    def metrics(self) -> dict[str, float]:
        """MLflow metrics: ``drift_psi_<column>`` and ``drift_relation_<column>`` (the
        relation change) per column where defined, and ``drift_psi_max`` /
        ``drift_relation_max`` when any is. Column names are made MLflow-legal
        (:func:`metric_name`); two that clash get ``_2``, ``_3``, ... suffixes."""
        out: dict[str, float] = {}

        def put(name: str, value: float) -> None:
            key, n = name, 1
            while key in out:
                n += 1
                suffix = f"_{n}"
                key = name[: _METRIC_MAX - len(suffix)] + suffix
            out[key] = float(value)

        for c in self.columns:
            if c.psi is not None:
                put(metric_name("drift_psi_", c.column), c.psi)
        for c in self.columns:
            if c.relation_change is not None:
                put(metric_name("drift_relation_", c.column), c.relation_change)
        if (psi := self._largest("psi")) is not None:
            out["drift_psi_max"] = psi[0]
        if (rel := self._largest("relation_change")) is not None:
            out["drift_relation_max"] = rel[0]
        return out

    def summary(self) -> str:
        """One line, e.g. ``drift ok: largest PSI 0.03 (rm), largest relation change
        0.02 (lstat)``; at warn or block it first names the columns over the levels."""
        psi, rel = self._largest("psi"), self._largest("relation_change")
        largest = [
            f"largest PSI {psi[0]:.2f} ({psi[1]})" if psi else "no PSI",
            f"largest relation change {rel[0]:.2f} ({rel[1]})" if rel else "no relation change",
        ]
        over = []
        for level in ("block", "warn"):
            names = [c.column for c in self.columns if c.level == level]
            if names:
                over.append(f"over the {level} level: {', '.join(names)}")
        return f"drift {self.level}: " + "; ".join([*over, ", ".join(largest)])

    def reasons(self) -> list[str]:
        """One human line per reason a column is at the block level."""
        out = []
        for c in self.columns:
            if c.level != "block":
                continue
            if c.psi is None:
                out.append(f"column {c.column!r}: {c.note}")
                continue
            if c.psi > self.block:
                out.append(f"column {c.column!r}: PSI {c.psi:.3g} > block level {self.block:g}")
            if c.relation_change is not None and c.relation_change > self.relation_block:
                out.append(
                    f"column {c.column!r}: relation to the target changed by "
                    f"{c.relation_change:.3g} ({c.relation_ref:.3g} -> {c.relation_today:.3g})"
                    f" > block level {self.relation_block:g}"
                )
        return out


def metric_name(prefix: str, column: str) -> str:
    """``prefix + column`` with every character MLflow refuses in a metric name
    (anything but Unicode letters/digits, ``_``, ``-``, ``.``, space) made ``_``,
    cut to MLflow's 250 characters."""
    return (prefix + _METRIC_BAD.sub("_", str(column)))[:_METRIC_MAX]


# --------------------------------------------------------------------------- compare


def _psi(expected: Sequence[float], actual: Sequence[float]) -> float:
    e = np.maximum(np.asarray(expected, dtype=float), EPSILON)
    a = np.maximum(np.asarray(actual, dtype=float), EPSILON)
    return max(0.0, float(np.sum((a - e) * np.log(a / e))))


def _level(value: float | None, warn: float, block: float) -> str:
    if value is None:
        return "ok"
    if value > block:
        return "block"
    return "warn" if value > warn else "ok"


def _worst(levels: Sequence[str]) -> str:
    return max(levels, key=LEVELS.index, default="ok")


def _check_reference(reference) -> None:
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


def compare(
    reference: dict,
    df: pd.DataFrame,
    *,
    warn: float,
    block: float,
    relation_warn: float,
    relation_block: float,
) -> DriftReport:
    """Today's ``df`` (CSV column names) against a reference :func:`profile`.

    Raises ``ValueError`` for a profile of another format version, an empty
    frame, or a threshold that is not a non-negative number.
    """
    _check_reference(reference)
    levels = {
        "warn": warn,
        "block": block,
        "relation_warn": relation_warn,
        "relation_block": relation_block,
    }
    for key, value in levels.items():
        if isinstance(value, bool) or not isinstance(value, int | float) or not value >= 0:
            raise ValueError(f"drift level {key!r} must be a non-negative number, got {value!r}")
        if not math.isfinite(value):
            raise ValueError(f"drift level {key!r} must be finite, got {value!r}")
    if len(df) == 0:
        raise ValueError("cannot compare an empty frame (0 rows) with the drift reference")

    rows = len(df)
    ref_columns: Mapping[str, Mapping] = reference["columns"]
    target = reference["target"]
    target_kind = "numeric" if reference["task"] == "regression" else "categorical"
    target_today = _column_values(df[target], target_kind) if target in df.columns else None

    out: list[ColumnDrift] = []
    for name, ref in ref_columns.items():
        role, kind = ref.get("role", "feature"), ref["kind"]
        if name not in df.columns:
            out.append(
                ColumnDrift(
                    column=name,
                    kind=kind,
                    role=role,
                    psi=None,
                    relation_ref=ref.get("relation") if role == "feature" else None,
                    relation_today=None,
                    relation_change=None,
                    level="block",
                    note="missing today (the reference profile has it)",
                )
            )
            continue
        values = target_today if role == "target" else _column_values(df[name], kind)
        psi, note = _column_psi(ref, values, kind, rows)
        rel_ref = rel_today = change = None
        if role == "feature":
            rel_ref = ref.get("relation")
            if target_today is not None:
                rel_today = _relation(values, kind, target_today, target_kind)
            if rel_ref is not None and rel_today is not None:
                change = abs(rel_today - float(rel_ref))
        level = _worst([_level(psi, warn, block), _level(change, relation_warn, relation_block)])
        out.append(
            ColumnDrift(
                column=name,
                kind=kind,
                role=role,
                psi=psi,
                relation_ref=rel_ref,
                relation_today=rel_today,
                relation_change=change,
                level=level,
                note=note,
            )
        )
    for name in df.columns:
        if name in ref_columns:
            continue
        kind = "numeric" if pd.api.types.is_numeric_dtype(df[name]) else "categorical"
        out.append(
            ColumnDrift(
                column=str(name),
                kind=kind,
                role="feature",
                psi=None,
                relation_ref=None,
                relation_today=None,
                relation_change=None,
                level="block",
                note="not in the reference profile (a column today that the champion's data lacked)",
            )
        )
    return DriftReport(
        level=_worst([c.level for c in out]),
        columns=tuple(out),
        reference_rows=int(reference["rows"]),
        rows=rows,
        **{k: float(v) for k, v in levels.items()},
    )


def _column_psi(ref: Mapping, values: np.ndarray, kind: str, rows: int) -> tuple[float, str]:
    """PSI of today's ``values`` over the reference column's buckets, and a note."""
    notes = []
    ref_null = float(ref.get("null_fraction", 0.0))
    if kind == "numeric":
        nulls = int(np.isnan(values).sum())
        expected = [*map(float, ref["fractions"]), ref_null]
        actual = [*_bin_fractions(values, ref["edges"], rows), nulls / rows]
    else:
        nulls = sum(1 for v in values if v is None)
        freq: Mapping[str, float] = ref["frequencies"]
        today = _frequencies(values, rows)
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
    return _psi(expected, actual), "; ".join(notes)

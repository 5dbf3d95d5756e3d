"""Draft a new dataset from a user's CSV (``bnpipe dataset init``): its catalog
entry and a first expectation suite.

:func:`draft_dataset` fetches the CSV and decides each column's role from the data
(:mod:`bnpipe.profiling`); :func:`draft_suite` writes GX expectations and bnpipe's
sanity rules (:mod:`bnpipe.validation.sanity`) that the data itself passes. The draft wants
human review before anyone relies on it.
"""

from __future__ import annotations

import io
import math
import textwrap
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from bnpipe import ingest, leaks, profiling
from bnpipe.catalog import DatasetSpec, parse_entry
from bnpipe.drift import DEFAULT_LEVELS
from bnpipe.validation.sanity import (
    _FLOAT32_MAX,
    CLASS_COUNTS_RULE,
    FINITE_RULE,
    NEAR_REFERENCE_RULE,
    TARGET_VARIES_RULE,
    _as_float,
    constant_target,
)
from bnpipe.validation.suites import _DUPLICATES_RULE, _UNIQUE_COUNT_RULE
from bnpipe.values import _number, _plain, _sorted, _unique

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


class DraftError(ValueError):
    """Columns named that the data does not have, or none left to train on."""


@dataclass(frozen=True)
class DatasetDraft:
    """A new dataset drafted from its CSV: the catalog entry (as a spec), its
    suite, and what the entry's comments explain (each column's role and why)."""

    spec: DatasetSpec
    suite: dict  # passes on ``frame``; for a person to review
    frame: pd.DataFrame
    profile: profiling.Profile
    defaults: profiling.Defaults  # training defaults that make the network learnable
    sep: str
    leaks: tuple[leaks.Leak, ...] = ()  # kept features that may reproduce the target

    def entry_comments(self, suite_path: str) -> tuple[dict[str, str], dict[str, list[str]]]:
        """The entry's comments (``catalog.append_entry``), naming the suite as
        ``suite_path``; possible target leaks go after ``features``."""
        beside, notes = profiling.entry_comments(
            self.profile, sep=self.sep, suite_path=suite_path, defaults=self.defaults
        )
        if self.leaks:
            lines = [*self.leak_lines(), leaks.drop_hint(self.leaks)]
            notes["features"] = [
                *notes.get("features", []),
                *(
                    part
                    for line in lines
                    for part in textwrap.wrap(line, 90, subsequent_indent="  ")
                ),
            ]
        return beside, notes

    def leak_lines(self) -> list[str]:
        """One line per possible target leak, naming its columns and the rule."""
        return [leak.line(self.spec.target) for leak in self.leaks]


def draft_dataset(
    name: str,
    url: str,
    *,
    target: str,
    task: str | None = None,
    exclude: Sequence[str] = (),
    description: str = "",
    source: str = "catalog",
    timeout: float = 30.0,
    max_bytes: int = 200 * 1024 * 1024,
) -> DatasetDraft:
    """Fetch the CSV at ``url`` (a local path is a file URL), detect its separator,
    check it, profile its columns (``task`` None: inferred from the target; the
    ``exclude`` columns left out) and draft the entry and the suite. ``source`` names
    the catalog in messages about the entry."""
    url = url if "://" in url else Path(url).resolve().as_uri()
    data = ingest.fetch(url, timeout=timeout, max_bytes=max_bytes)
    sep = profiling.detect_separator(data)
    ingest.check_csv(data, dataset=name, url=url, sep=sep)
    df = ingest.read_csv(io.BytesIO(data), sep=sep)
    try:
        profile = profiling.profile_frame(df, target=target, task=task, exclude=list(exclude))
    except profiling.ColumnError as exc:
        raise DraftError(f"{exc} (in {ingest.redact(url)})") from None
    why = constant_target(df[target])
    if why is not None:
        raise DraftError(f"{name}: column {target!r}: {TARGET_VARIES_RULE} — {why}")
    if not profile.features:
        raise DraftError(
            f"no column of {ingest.redact(url)} is left to train on: "
            f"{profile.left_out_note() or 'only the target'}"
        )
    defaults = profiling.choose_defaults(df, profile)
    entry = {
        "description": description or f"added by bnpipe dataset init from {ingest.redact(url)}",
        "url": url,
        "sep": sep,
        "task": profile.task,
        "target": target,
        "features": profile.features,
        "categorical": profile.categorical,
        "dates": profile.dates,
        "missing": profile.missing,
        "min_frequency": profile.min_frequency,
        "defaults": dict(defaults.values),
        "suite": name,
        "sha256": None,
        "drift": dict(DEFAULT_LEVELS),  # written out, so a reviewer sees what holds a promotion
    }
    spec = parse_entry(name, entry, source)
    found = leaks.find_leaks(
        df, target=target, task=profile.task, categorical=profile.categorical,
        numeric=[c for c in profile.features if c not in {*profile.categorical, *profile.dates}],
    )  # fmt: skip
    return DatasetDraft(spec, draft_for(df, spec), df, profile, defaults, sep, tuple(found))


def draft_for(df: pd.DataFrame, spec) -> dict:
    """:func:`draft_suite` for a catalog entry (a ``DatasetSpec``)."""
    return draft_suite(
        df,
        spec.name,
        target=spec.target,
        task=spec.task,
        categorical=list(spec.categorical),
        features=list(spec.features),
        dates=list(spec.dates),
        missing=spec.missing,
        missing_columns=spec.missing_columns,
        min_frequency=spec.min_frequency,
    )


def draft_suite(
    df: pd.DataFrame,
    name: str,
    *,
    target: str,
    task: str,
    categorical: Sequence[str],
    features: Sequence[str] | None = None,
    dates: Sequence[str] = (),
    missing: str = "error",
    missing_columns: Mapping[str, str] | None = None,
    min_frequency: int = 0,
) -> dict:
    """Draft a suite from the data itself; it passes on ``df`` and wants human review.

    ``features``: the columns the model uses (None: every column but the target);
    the others (identifiers, free text, excluded columns) are only in the ordered
    column list. ``dates``: date features (text: no numeric rules). ``missing`` and
    ``missing_columns``: the catalog's blank-cell policy (see :mod:`bnpipe.catalog`);
    ``min_frequency``: the catalog's, for categories.

    Columns in order. Not-null: a feature whose policy is ``error`` (and the target
    when the dataset's is) must have no blanks (a rule only when the data has none;
    the pipeline refuses blanks there anyway); under ``impute`` or ``drop`` blanks
    are allowed up to a relaxed floor (:func:`relaxed_floor` of the share seen), so
    today's blanks are not tomorrow's failures (blank targets are not trained on). Numeric dtypes;
    observed ranges widened by 10% (kept >= 0 when the data is); value sets for
    categorical columns and a classification target (``mostly`` relaxed the same way
    for a column with levels rarer than ``min_frequency``: new rare levels fold into
    "other"); at least half the rows (and >= 10). And the sanity rules: finite
    numbers, at least 2 distinct values per feature, every class of a
    classification target at least min(10, its rarest class) times, at most 10%
    duplicated rows (over the features and the target), and a row count within
    0.5x..2x of the last good snapshot's. A sanity rule that the data itself breaks
    (a constant feature, +-inf) is not drafted.
    """
    if task not in ("regression", "classification"):
        raise ValueError(f"task must be 'regression' or 'classification', not {task!r}")
    features = [c for c in df.columns if c != target] if features is None else list(features)
    unknown = [c for c in _unique([target, *features, *categorical, *dates]) if c not in df.columns]
    if unknown:
        raise ValueError(f"{name}: columns {unknown} are not in the data {list(df.columns)}")
    policy = dict(missing_columns or {})
    as_set = set(categorical) | ({target} if task == "classification" else set())
    kept = set(features) | {target}
    skipped: list[str] = []  # sanity rules the data itself breaks
    relaxed: list[str] = []  # columns whose blanks are allowed up to a floor
    rows = len(df)

    exps: list[dict] = [
        _exp("expect_table_columns_to_match_ordered_list", column_list=[str(c) for c in df.columns])
    ]
    for column in df.columns:
        if column not in kept:
            continue  # left out of the model: only in the column list
        series = df[column]
        blank = int(series.isna().sum())
        own = missing if column == target else policy.get(column, missing)
        if own == "error":
            if not blank:
                exps.append(_exp("expect_column_values_to_not_be_null", column=column))
            else:
                skipped.append(f"no blanks in {column!r} ({blank} of {rows} rows are blank)")
        else:
            floor = relaxed_floor(blank / rows if rows else 0.0)
            now = f"{blank} of {rows} now" if blank else "none now"
            if floor > 0:
                exps.append(
                    _exp("expect_column_values_to_not_be_null", column=column, mostly=floor)
                )
                relaxed.append(f"{column} {_share_of(floor)} ({now})")
            else:
                relaxed.append(f"{column} any share ({now}: no not-null rule)")
        if column in dates:
            _unique_count_rule(exps, skipped, series, column)
            continue
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
        if column in as_set or _is_bool(series):
            values = _sorted(_unique(_plain(v) for v in series.dropna().unique()))
            rule = {"column": column, "value_set": values}
            if column != target and min_frequency:
                rare = _rare_share(series, min_frequency)
                if rare:
                    rule["mostly"] = max(0.5, relaxed_floor(rare))
            exps.append(_exp("expect_column_values_to_be_in_set", **rule))
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
            _unique_count_rule(exps, skipped, series, column)

    exps.append(
        _exp("expect_table_row_count_to_be_between", min_value=min(rows, max(10, rows // 2)))
    )
    checked = [str(c) for c in df.columns if c in kept]
    if _duplicated_share(df[checked]) < 0.1 - 1e-9:
        exps.append(_exp(_DUPLICATES_RULE, column_list=checked, mostly=0.9))
    else:
        skipped.append("at most 10% duplicated rows")
    exps.append(_exp(NEAR_REFERENCE_RULE, min_ratio=0.5, max_ratio=2.0))
    notes = (
        f"Drafted by bnpipe from {rows} rows of {name} (target {target!r}, {task}). "
        "Ranges are the observed min/max widened by 10%: review them, and the "
        "value sets, before relying on this suite."
    )
    left_out = [str(c) for c in df.columns if c not in kept]
    if left_out:
        notes += " Not used by the model, so only in the column list: " + ", ".join(left_out) + "."
    if relaxed:
        notes += (
            " Blank cells allowed, since the catalog's missing policy imputes or drops them "
            "(and rows with a blank target are not trained on), up to: " + ", ".join(relaxed) + "."
        )
    if dates:
        notes += " Dates (" + ", ".join(map(str, dates)) + "): no range or type rules."
    if skipped:
        notes += " Not drafted, since this data breaks them: " + "; ".join(skipped) + "."
    return {"name": name, "expectations": exps, "meta": {"notes": notes}}


def relaxed_floor(blank_share: float) -> float:
    """The ``mostly`` of a not-null rule for a column with ``blank_share`` blanks:
    1 - 2 x the share - 0.05, rounded down to 2 decimals, >= 0."""
    floor = max(0.0, 1.0 - 2.0 * blank_share - 0.05)
    return math.floor(round(floor * 100, 6)) / 100


def _unique_count_rule(exps: list[dict], skipped: list[str], series: pd.Series, column) -> None:
    if _distinct(series) >= 2:
        exps.append(_exp(_UNIQUE_COUNT_RULE, column=column, min_value=2))
    else:
        skipped.append(f"at least 2 distinct values in {column!r}")


def _rare_share(series: pd.Series, min_frequency: int) -> float:
    """Share of the non-blank cells in levels seen fewer than ``min_frequency`` times."""
    values = series.dropna()
    if not len(values):
        return 0.0
    try:
        counts = values.value_counts()
    except TypeError:  # unhashable cells
        counts = values.map(repr).value_counts()
    return float(counts[counts < min_frequency].sum() / len(values))


def _is_bool(series: pd.Series) -> bool:
    if pd.api.types.is_bool_dtype(series):
        return True
    values = series.dropna()
    return series.dtype == object and bool(len(values)) and all(isinstance(v, bool) for v in values)


def _share_of(floor: float) -> str:
    return f"{_number(round((1 - floor) * 100, 6))}%"


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

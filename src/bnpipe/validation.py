"""Validate a DataFrame against a Great Expectations suite stored as JSON.

The suites are data (``expectations/<dataset>.json``, the format GX 1.x serialises);
this module holds the one generic validator and turns GX's results into a small,
readable :class:`ValidationReport`:

    report = validate(df, Path("expectations/boston.json"), "boston")
    print(report.summary())
    check(df, suite_path, "boston")   # the same, raising DataValidationError on failure

``draft_suite`` writes a first suite for a user's CSV (``bnpipe dataset init``).

Besides GX's own expectation types a suite may hold "sanity" rules that GX has no
built-in for; their types start with ``bnpipe_`` and bnpipe evaluates them in pandas,
generically from the suite's JSON, into the same :class:`Failure` records:

- ``bnpipe_expect_column_values_to_be_finite`` (``column``): every number is finite
  and within float32 range (what the model trains on).
- ``bnpipe_expect_column_value_counts_to_be_at_least`` (``column``, ``value_set``,
  ``min_value``): every class of ``value_set`` occurs at least ``min_value`` times.
- ``bnpipe_expect_row_count_to_be_near_reference`` (``min_ratio``, ``max_ratio``): the
  row count is within [min_ratio, max_ratio] x the last good snapshot's row count,
  passed as ``validate(..., reference_rows=n)``; without it the rule is not evaluated.

Great Expectations is imported lazily (it takes seconds) and runs in one in-memory
("ephemeral") context per process. Things about GX 1.24 this module works around:

- ``ExpectationSuite(**dict)`` silently drops expectations it cannot build (it only
  logs), so a typo in a suite would shrink validation; we build each one ourselves
  and fail loudly instead.
- GX matches column names case-insensitively: an expectation on ``medv`` runs against
  a column ``MEDV``. Expectations on columns that are not in the frame (exactly) are
  therefore not run; each such column yields one clear "column is missing" failure.
- A failed expectation may carry no result at all, only ``exception_info``, which is
  either one ``{raised_exception, exception_message, ...}`` dict or a dict of them
  keyed by metric id.
- Results come back in GX's evaluation order, not the suite's; we sort them back.
- Type names in ``expect_column_values_to_be_in_type_list`` must be numpy dtype names
  (``int64``) or pandas class names (``Int64Dtype``, not ``Int64``).
- ``expect_compound_columns_to_be_unique`` (with pandas 3 too) counts every row of a
  duplicated combination, as ``df.duplicated(keep=False)`` does (NaN equal to NaN;
  ``ignore_row_if`` defaults to "never"); its examples are whole rows, as dicts.
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import math
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

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

MAX_EXAMPLES = 5  # offending values kept per failure
MAX_ROW_EXAMPLES = 2  # offending rows kept (duplicated rows)
_MISSING_COLUMN_RULE = "expect_column_to_exist"

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
_DUPLICATES_RULE = "expect_compound_columns_to_be_unique"
_UNIQUE_COUNT_RULE = "expect_column_unique_value_count_to_be_between"
_TABLE_COLUMNS_RULES = (
    "expect_table_columns_to_match_ordered_list",
    "expect_table_columns_to_match_set",
)


# --------------------------------------------------------------------------- report


@dataclass(frozen=True)
class Failure:
    """One expectation that the data did not meet."""

    column: str | None  # None for table-level rules
    rule: str  # the GX expectation type
    detail: str  # human words: "values must be between 0 and 50"
    offending: list  # up to MAX_EXAMPLES offending values (JSON-serializable), may be []
    count: int | None  # number of offending rows, if known

    def line(self) -> str:
        where = f"column '{self.column}'" if self.column is not None else "table"
        text = f"{where}: {self.rule} — {self.detail}"
        if self.count:
            text += f"; {self.count} row{'s' if self.count != 1 else ''}"
            if self.offending:
                text += f", e.g. {self.offending}"
        elif self.offending:
            text += f"; e.g. {self.offending}"
        return text


@dataclass(frozen=True)
class ValidationReport:
    dataset: str
    suite: str
    success: bool
    evaluated: int  # number of expectations evaluated
    failures: tuple[Failure, ...]
    rows: int

    def summary(self) -> str:
        if self.success:
            return (
                f"{self.dataset}: validation passed ({self.evaluated} expectations, "
                f"{self.rows} rows) against suite '{self.suite}'"
            )
        head = (
            f"{self.dataset}: validation failed ({len(self.failures)} of {self.evaluated} "
            f"expectations) against suite '{self.suite}'"
        )
        return "\n".join([head, *(f"  {f.line()}" for f in self.failures)])

    def to_dict(self) -> dict:
        return asdict(self) | {"failures": [asdict(f) for f in self.failures]}


class DataValidationError(ValueError):
    """The data broke its suite; ``str(err)`` is the report's summary."""

    def __init__(self, report: ValidationReport):
        super().__init__(report.summary())
        self.report = report

    def __reduce__(self):  # keep the report when pickled (Prefect ships exceptions)
        return (type(self), (self.report,))


# --------------------------------------------------------------------------- suites


def load_suite(path: Path) -> dict:
    """Read a suite JSON file and check its outline (name, expectations with types)."""
    path = Path(path)
    try:
        suite = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, json.JSONDecodeError) as exc:
        raise ValueError(f"cannot read expectation suite {path}: {exc}") from exc
    if not isinstance(suite, dict) or not isinstance(suite.get("expectations"), list):
        raise ValueError(f"expectation suite {path} has no 'expectations' list")
    for i, exp in enumerate(suite["expectations"]):
        if not isinstance(exp, dict) or not isinstance(exp.get("type"), str):
            raise ValueError(f"expectation suite {path}: expectation #{i} has no 'type'")
    suite.setdefault("name", path.stem)
    return suite


def write_suite(suite: dict, path: Path) -> None:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(suite, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# --------------------------------------------------------------------------- validation


def check(
    df: pd.DataFrame, suite_path: Path, dataset: str, reference_rows: int | None = None
) -> ValidationReport:
    """Validate and raise :class:`DataValidationError` if anything fails."""
    report = validate(df, suite_path, dataset, reference_rows)
    if not report.success:
        raise DataValidationError(report)
    return report


def validate(
    df: pd.DataFrame, suite_path: Path, dataset: str, reference_rows: int | None = None
) -> ValidationReport:
    """Run the suite at ``suite_path`` on ``df`` and report what failed.

    ``reference_rows`` is the row count of the last good snapshot of the dataset, for
    ``bnpipe_expect_row_count_to_be_near_reference``; with None that rule is skipped
    (and not counted as evaluated)."""
    if reference_rows is not None and (
        isinstance(reference_rows, bool) or not isinstance(reference_rows, int | np.integer)
    ):
        raise TypeError(f"reference_rows must be an int or None, not {reference_rows!r}")
    if reference_rows is not None and reference_rows < 0:
        raise ValueError(f"reference_rows must be >= 0, not {reference_rows}")
    reference_rows = None if reference_rows is None else int(reference_rows)
    spec = load_suite(suite_path)
    key = _memo_key(df, spec, dataset, reference_rows)
    if key is not None and key in _MEMO:
        return _MEMO[key]
    report = _validate(df, spec, dataset, Path(suite_path), reference_rows)
    if key is not None:
        with _MEMO_LOCK:
            _MEMO[key] = report
            while len(_MEMO) > _MEMO_SIZE:
                _MEMO.pop(next(iter(_MEMO)))  # oldest first
    return report


def _validate(
    df: pd.DataFrame, spec: dict, dataset: str, source: Path, reference_rows: int | None
) -> ValidationReport:
    expectations = [_with_kwargs(e) for e in spec["expectations"]]
    for i, e in enumerate(expectations):
        if _is_custom(e):
            _check_custom_kwargs(e, f"expectation suite {source}: #{i} {e['type']} is invalid")

    # GX would match a missing "medv" to a present "MEDV": judge presence ourselves.
    present = {str(c) for c in df.columns}
    missing = _unique(c for e in expectations for c in _columns_of(e) if c not in present)
    runnable = [e for e in expectations if not any(c in missing for c in _columns_of(e))]

    failures = [
        Failure(column, _MISSING_COLUMN_RULE, "column is missing from the data", [], None)
        for column in missing
    ]
    evaluated = len(missing)
    gx_rules = [e for e in runnable if not _is_custom(e)]
    for result in _run_gx(df, gx_rules, name=spec["name"], source=source):
        evaluated += 1
        if not result.success:
            cfg = result.expectation_config
            failures.append(_failure(cfg.type, dict(cfg.kwargs), result, df))
    for e in runnable:
        if _is_custom(e):
            if e["type"] == NEAR_REFERENCE_RULE and reference_rows is None:
                continue  # nothing to compare with (first download, or a check by hand)
            evaluated += 1
            failure = _CUSTOM_CHECKS[e["type"]](df, e["kwargs"], reference_rows)
            if failure is not None:
                failures.append(failure)

    order = _suite_order(expectations)
    failures.sort(key=lambda f: order.get((f.rule, f.column), order.get(f.column, len(order))))
    return ValidationReport(
        dataset=dataset,
        suite=spec["name"],
        success=not failures,
        evaluated=evaluated,
        failures=tuple(failures),
        rows=len(df),
    )


# GX spends ~10 ms per expectation whatever the data size, so validating the same
# frame against the same suite again (retries, `bnpipe validate` then `run`) is
# answered from a small memo keyed by the frame's content hash.
_MEMO: dict[tuple, ValidationReport] = {}
_MEMO_SIZE = 16
_MEMO_LOCK = threading.Lock()


def _memo_key(
    df: pd.DataFrame, spec: dict, dataset: str, reference_rows: int | None
) -> tuple | None:
    try:
        rows = pd.util.hash_pandas_object(df, index=True).to_numpy().tobytes()
    except TypeError:  # unhashable cells (lists, dicts): don't memoize
        return None
    digest = hashlib.sha256(rows)
    digest.update(repr([(str(c), str(t)) for c, t in df.dtypes.items()]).encode())
    spec_text = json.dumps(spec, sort_keys=True, default=str)
    return dataset, spec_text, digest.hexdigest(), reference_rows


def _with_kwargs(expectation: dict) -> dict:
    return {**expectation, "kwargs": dict(expectation.get("kwargs") or {})}


def _unique(items) -> list:
    return list(dict.fromkeys(items))


def _is_custom(expectation: dict) -> bool:
    return expectation["type"].startswith(CUSTOM_PREFIX)


def _columns_of(expectation: dict) -> list[str]:
    """The columns an expectation needs present (the table-columns rules judge the
    column list themselves)."""
    kw = expectation["kwargs"]
    columns = [kw[k] for k in ("column", "column_A", "column_B") if k in kw]
    if expectation["type"] not in _TABLE_COLUMNS_RULES:
        columns += list(kw.get("column_list") or [])
    return [str(c) for c in columns]


def _suite_order(expectations: list[dict]) -> dict:
    """Position of each (rule, column) and each column's first rule, to sort failures."""
    order: dict = {}
    for i, e in enumerate(expectations):
        column = e["kwargs"].get("column")
        order.setdefault((e["type"], column), i)
        order.setdefault(column, i)
        if column is not None:
            order.setdefault((_MISSING_COLUMN_RULE, column), i)
    for i, e in enumerate(expectations):  # columns named only in a rule's column list
        for column in _columns_of(e):
            order.setdefault((_MISSING_COLUMN_RULE, column), i)
    return order


# --------------------------------------------------------------------------- GX plumbing

_GX_LOCK = threading.Lock()  # one GX context per process; don't interleave runs on it


def _gx():
    os.environ.setdefault("GX_ANALYTICS_ENABLED", "false")
    import great_expectations as gx

    return gx


@functools.lru_cache(maxsize=1)
def _batch_definition():
    """An ephemeral context with one pandas dataframe asset, built once per process."""
    gx = _gx()
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False)
    asset = context.data_sources.add_pandas("bnpipe").add_dataframe_asset("frame")
    return asset.add_batch_definition_whole_dataframe("whole frame")


def preload() -> None:
    """Import GX and build its context now (~5 CPU-s on the dev machine), e.g. while
    other processes start, instead of inside the first validation."""
    _batch_definition()


def _build_suite(expectations: list[dict], name: str, source: Path):
    gx = _gx()
    from great_expectations.expectations.expectation_configuration import (
        ExpectationConfiguration,
    )

    built = []
    for i, e in enumerate(expectations):
        config = ExpectationConfiguration(type=e["type"], kwargs=e["kwargs"], meta=e.get("meta"))
        try:
            built.append(config.to_domain_obj())
        except Exception as exc:  # unknown type, bad kwargs: a broken suite, not bad data
            raise ValueError(
                f"expectation suite {source}: #{i} {e['type']} is invalid: {exc}"
            ) from exc
    return gx.ExpectationSuite(name=name, expectations=built)


def _run_gx(df: pd.DataFrame, expectations: list[dict], *, name: str, source: Path) -> list:
    if not expectations:
        return []
    suite = _build_suite(expectations, name, source)
    result_format = {"result_format": "SUMMARY", "partial_unexpected_count": 20}
    with _GX_LOCK:
        batch = _batch_definition().get_batch(batch_parameters={"dataframe": df})
        return list(batch.validate(suite, result_format=result_format).results)


# --------------------------------------------------------------------------- bnpipe rules


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
    return Failure(column, FINITE_RULE, detail, _examples(series[bad].tolist()), int(bad.sum()))


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
    return Failure(column, CLASS_COUNTS_RULE, detail, _examples(short), None)


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
    return Failure(None, NEAR_REFERENCE_RULE, f"{detail}; found {rows}", [], None)


_CUSTOM_CHECKS = {
    FINITE_RULE: _check_finite,
    CLASS_COUNTS_RULE: _check_class_counts,
    NEAR_REFERENCE_RULE: _check_near_reference,
}


# --------------------------------------------------------------------------- failures


def _failure(rule: str, kwargs: dict, result, df: pd.DataFrame) -> Failure:
    """Turn one failed GX result into a Failure, whatever shape the result has."""
    column = kwargs.get("column")
    outcome = dict(result.result or {})
    observed = _plain(outcome.get("observed_value"))
    detail = _describe(rule, kwargs)
    offending = _examples(outcome.get("partial_unexpected_list") or [])
    count = outcome.get("unexpected_count")

    if rule == "expect_column_values_to_not_be_null":
        offending = []  # the nulls themselves say nothing
    elif rule in _TABLE_COLUMNS_RULES:
        detail, offending = _describe_columns(kwargs.get("column_list") or [], df, detail), []
        observed = None
    elif rule == _DUPLICATES_RULE:
        listed = [str(c) for c in kwargs.get("column_list") or []]
        if set(listed) != {str(c) for c in df.columns}:
            detail += " in " + _join(listed)
        share = _plain(outcome.get("unexpected_percent"))
        if isinstance(share, int | float):
            detail += f"; found {_number(round(share, 1))}%"
        offending = offending[:MAX_ROW_EXAMPLES]  # whole rows: a few say enough
    elif rule == _UNIQUE_COUNT_RULE and column in df.columns and isinstance(observed, int):
        if observed <= MAX_EXAMPLES:  # the few values there are
            with contextlib.suppress(TypeError):
                values = _unique(_plain(v) for v in df[column].dropna().unique())
                offending = _examples(_sorted(values))
    elif rule == "expect_column_values_to_be_in_type_list" and column in df.columns:
        series = df[column]
        detail += f"; found {series.dtype}"
        observed = None
        if all(_is_numeric_type(t) for t in kwargs.get("type_list") or []):
            bad = series[pd.to_numeric(series, errors="coerce").isna() & series.notna()]
            offending, count = _examples(bad.tolist()), len(bad)

    if observed is not None:
        detail += f"; found {observed}"
    errors = _exception_messages(result.exception_info)
    if errors:
        detail += f" (could not be checked: {'; '.join(errors)})"
    return Failure(column, rule, detail, offending, int(count) if count else None)


def _is_numeric_type(name: str) -> bool:
    return str(name).lower().startswith(("int", "uint", "float"))


def _exception_messages(info: Any) -> list[str]:
    """Messages of raised exceptions; ``info`` is one record or a dict of records by id."""
    if not info:
        return []
    if isinstance(info, dict) and "raised_exception" not in info:
        records = [v for v in info.values() if isinstance(v, dict)]
    else:
        records = [info]
    messages = []
    for record in records:
        get = record.get if isinstance(record, dict) else lambda k, r=record: getattr(r, k, None)
        if get("raised_exception"):
            messages.append(str(get("exception_message") or "unknown error"))
    return _unique(messages)


def _describe(rule: str, kw: dict) -> str:
    """The rule in human words."""
    if rule == "expect_column_values_to_not_be_null":
        return "values must not be null"
    if rule == "expect_column_values_to_be_between":
        return "values must be " + _bounds(kw)
    if rule == "expect_table_row_count_to_be_between":
        return "row count must be " + _bounds(kw)
    if rule == "expect_column_values_to_be_in_set":
        return "values must be one of " + _join(kw.get("value_set") or [])
    if rule == "expect_column_values_to_be_in_type_list":
        return "dtype must be one of " + ", ".join(map(str, kw.get("type_list") or []))
    if rule == "expect_table_columns_to_match_ordered_list":
        return "columns must be exactly " + _join(kw.get("column_list") or []) + " in this order"
    if rule == "expect_table_columns_to_match_set":
        return "columns must be " + _join(kw.get("column_list") or [])
    if rule == _DUPLICATES_RULE:
        share = _number(round((1 - float(kw.get("mostly", 1.0))) * 100, 6))
        if not share:
            return "no row may duplicate another row"
        return f"at most {share}% of rows may duplicate another row"
    if rule == _UNIQUE_COUNT_RULE:
        lo, hi = _number(kw.get("min_value")), _number(kw.get("max_value"))
        if hi is None and lo == 2:
            return "must have at least 2 distinct values (a constant column carries no information)"
        if hi is None and lo is not None:
            return f"must have at least {lo} distinct values"
        return f"must have {_bounds(kw)} distinct values"
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
    shown = {k: v for k, v in kw.items() if k not in ("column", "batch_id")}
    return f"must hold with {shown}" if shown else "must hold"


def _bounds(kw: dict) -> str:
    lo, hi = _number(kw.get("min_value")), _number(kw.get("max_value"))
    strict_lo, strict_hi = kw.get("strict_min"), kw.get("strict_max")
    if lo is not None and hi is not None and not strict_lo and not strict_hi:
        return f"between {lo} and {hi}"
    parts = []
    if lo is not None:
        parts.append(f"{'>' if strict_lo else '>='} {lo}")
    if hi is not None:
        parts.append(f"{'<' if strict_hi else '<='} {hi}")
    return " and ".join(parts) or "anything"


def _describe_columns(expected: list, df: pd.DataFrame, detail: str) -> str:
    found = [str(c) for c in df.columns]
    absent = [c for c in expected if c not in found]
    extra = [c for c in found if c not in expected]
    if absent:
        detail += "; missing " + _join(absent)
    if extra:
        detail += "; unexpected " + _join(extra)
    if not absent and not extra:
        detail += "; found " + _join(found)
    return detail


def _number(value: Any) -> Any:
    value = _plain(value)
    return int(value) if isinstance(value, float) and value.is_integer() else value


def _join(values) -> str:
    return "[" + ", ".join(str(v) for v in values) + "]"


def _examples(values: list) -> list:
    """Up to MAX_EXAMPLES distinct values, JSON-safe (+-inf as the strings "inf"/"-inf")."""
    plain = (_json_safe(_plain(v)) for v in values)
    return _unique_by_key(plain, lambda v: json.dumps(v, sort_keys=True, default=str))[
        :MAX_EXAMPLES
    ]


def _unique_by_key(values, key) -> list:
    seen: dict = {}
    for value in values:
        seen.setdefault(key(value), value)
    return list(seen.values())


def _json_safe(value: Any) -> Any:
    """JSON has no infinity: +-inf become "inf"/"-inf" (in lists and dicts too)."""
    if isinstance(value, float) and math.isinf(value):
        return "inf" if value > 0 else "-inf"
    if isinstance(value, list):
        return [_json_safe(v) for v in value]
    if isinstance(value, dict):
        return {k: _json_safe(v) for k, v in value.items()}
    return value


def _plain(value: Any) -> Any:
    """A JSON-serializable python scalar (numpy scalars unwrapped, NaN/NA -> None);
    lists and dicts (a row of a compound rule) element by element."""
    if hasattr(value, "item") and not isinstance(value, list | dict | str):
        with contextlib.suppress(ValueError, TypeError):
            value = value.item()
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return None if math.isnan(value) else value
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    with contextlib.suppress(TypeError, ValueError):
        if pd.isna(value):
            return None
    return str(value)


# --------------------------------------------------------------------------- drafting


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


def _sorted(values: list) -> list:
    try:
        return sorted(values)
    except TypeError:  # mixed types
        return sorted(values, key=str)


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

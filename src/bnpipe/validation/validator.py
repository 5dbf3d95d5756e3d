"""Validate a DataFrame against a Great Expectations suite stored as JSON.

The suites are data (``expectations/<dataset>.json``, the format GX 1.x serialises);
this module holds the one generic validator and turns GX's results into a small,
readable :class:`ValidationReport`:

    report = validate(df, Path("expectations/boston.json"), "boston")
    print(report.summary())
    check(df, suite_path, "boston")   # the same, raising DataValidationError on failure

Besides GX's own expectation types a suite may hold bnpipe's "sanity" rules (types
starting with ``bnpipe_``), which :mod:`bnpipe.sanity` evaluates in pandas into the
same :class:`Failure` records. :mod:`bnpipe.drafting` drafts a first suite for a
user's CSV (``bnpipe dataset init``).

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
import dataclasses
import functools
import hashlib
import json
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from bnpipe import sanity
from bnpipe.values import MAX_EXAMPLES, _examples, _join, _number, _plain, _sorted, _unique

MAX_ROW_EXAMPLES = 2  # offending rows kept (duplicated rows)
_MISSING_COLUMN_RULE = "expect_column_to_exist"
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


def with_failures(report: ValidationReport, failures: list[Failure]) -> ValidationReport:
    """``report`` with more failures (checks made outside the suite: the catalog's
    ``missing`` policy); each counts as an evaluated rule."""
    if not failures:
        return report
    return dataclasses.replace(
        report,
        success=False,
        evaluated=report.evaluated + len(failures),
        failures=(*report.failures, *failures),
    )


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
            sanity._check_custom_kwargs(
                e, f"expectation suite {source}: #{i} {e['type']} is invalid"
            )

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
            if e["type"] == sanity.NEAR_REFERENCE_RULE and reference_rows is None:
                continue  # nothing to compare with (first download, or a check by hand)
            evaluated += 1
            failure = sanity._CUSTOM_CHECKS[e["type"]](df, e["kwargs"], reference_rows)
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


def _is_custom(expectation: dict) -> bool:
    return expectation["type"].startswith(sanity.CUSTOM_PREFIX)


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
    if rule in sanity._CUSTOM_KWARGS:  # bnpipe's own rules
        return sanity._describe(rule, kw)
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

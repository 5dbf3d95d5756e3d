"""A failed GX result as a readable :class:`~bnpipe.validation.report.Failure`:
the rule in words, what was found, and a few offending values."""

from __future__ import annotations

import contextlib
from typing import Any

import pandas as pd

from bnpipe.validation import sanity
from bnpipe.validation.report import Failure
from bnpipe.validation.suites import _DUPLICATES_RULE, _TABLE_COLUMNS_RULES, _UNIQUE_COUNT_RULE
from bnpipe.values import MAX_EXAMPLES, _examples, _join, _number, _plain, _sorted, _unique

MAX_ROW_EXAMPLES = 2  # offending rows kept (duplicated rows)


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

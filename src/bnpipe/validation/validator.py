"""The one generic validator: a frame against a suite (GX's rules and bnpipe's
sanity rules), presence of columns judged exactly, failures in the suite's order,
and a small memo of recent answers."""

from __future__ import annotations

import hashlib
import json
import threading
from pathlib import Path

import numpy as np
import pandas as pd

from bnpipe.validation import sanity
from bnpipe.validation.failures import _failure
from bnpipe.validation.gx_context import _run_gx
from bnpipe.validation.report import DataValidationError, Failure, ValidationReport
from bnpipe.validation.suites import (
    _MISSING_COLUMN_RULE,
    _columns_of,
    _is_custom,
    _suite_order,
    _with_kwargs,
    load_suite,
)
from bnpipe.values import _unique


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


# GX spends a few ms per expectation whatever the data size, so validating the same
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

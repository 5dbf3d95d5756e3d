"""Validate a DataFrame against a Great Expectations suite stored as JSON.

The suites are data (``expectations/<dataset>.json``, the format GX 1.x serialises);
this package holds the one generic validator and turns GX's results into a small,
readable :class:`ValidationReport`:

    report = validate(df, Path("expectations/boston.json"), "boston")
    print(report.summary())
    check(df, suite_path, "boston")   # the same, raising DataValidationError on failure

Besides GX's own expectation types a suite may hold bnpipe's "sanity" rules (types
starting with ``bnpipe_``), which :mod:`bnpipe.validation.sanity` evaluates in pandas into the
same :class:`Failure` records. :mod:`bnpipe.drafting` drafts a first suite for a
user's CSV (``bnpipe dataset init``).

Great Expectations is imported lazily (it takes seconds) and runs in one in-memory
("ephemeral") context per process. Things about GX 1.24 this package works around:

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
- GX's pandas engine does work in proportion to the batch's width for every
  expectation (row filters copy every column; ``table.column_types`` lists them
  all), so a wide table in one batch costs columns x expectations. The rules on
  one column run in batches of 50 columns, with pass/fail alone first and a
  summary of the offending values only for those that failed.
- Type names in ``expect_column_values_to_be_in_type_list`` must be numpy dtype names
  (``int64``) or pandas class names (``Int64Dtype``, not ``Int64``).
- ``expect_compound_columns_to_be_unique`` (with pandas 3 too) counts every row of a
  duplicated combination, as ``df.duplicated(keep=False)`` does (NaN equal to NaN;
  ``ignore_row_if`` defaults to "never"); its examples are whole rows, as dicts.
"""

from __future__ import annotations

from bnpipe.validation.gx_context import preload
from bnpipe.validation.report import DataValidationError, Failure, ValidationReport, with_failures
from bnpipe.validation.suites import load_suite, write_suite
from bnpipe.validation.validator import check, validate

__all__ = [
    "DataValidationError",
    "Failure",
    "ValidationReport",
    "check",
    "load_suite",
    "preload",
    "validate",
    "with_failures",
    "write_suite",
]

"""The catalog's ``missing`` policy at validation: blanks under ``error`` are refused."""

from __future__ import annotations

import numpy as np
import pandas as pd

from bnpipe import validation
from bnpipe.catalog import parse_entry
from bnpipe.validation import sanity

ENTRY = {
    "url": "https://example.com/t.csv",
    "task": "regression",
    "target": "y",
    "features": ["a", "b", "c"],
    "categorical": ["c"],
}
FRAME = pd.DataFrame(
    {
        "a": [1.0, np.nan, 3.0, np.nan],
        "b": [1, 2, 3, 4],
        "c": ["x", None, "y", "x"],
        "y": [1.0, 2.0, np.nan, 4.0],
    }
)


def test_blanks_under_error_name_the_column_the_count_and_the_lines():
    failures = sanity.missing_policy_failures(FRAME, parse_entry("t", ENTRY))
    assert [(f.column, f.rule) for f in failures] == [
        ("a", "bnpipe_missing_policy"),
        ("c", "bnpipe_missing_policy"),
        ("y", "bnpipe_missing_policy"),
    ]
    assert failures[0].line() == (
        "column 'a': bnpipe_missing_policy — blank cells are not allowed (missing: error): "
        "2 blank cells, e.g. on CSV lines [3, 5]"
    )


def test_impute_and_drop_allow_blanks_and_a_column_can_differ():
    spec = parse_entry("t", {**ENTRY, "missing": {"default": "impute", "columns": {"c": "error"}}})
    assert [f.column for f in sanity.missing_policy_failures(FRAME, spec)] == ["c"]
    assert (
        sanity.missing_policy_failures(FRAME, parse_entry("t", {**ENTRY, "missing": "drop"})) == []
    )


def test_a_column_the_suite_already_refused_is_not_reported_twice():
    failures = sanity.missing_policy_failures(FRAME, parse_entry("t", ENTRY), {"a", "y"})
    assert [f.column for f in failures] == ["c"]


def test_with_failures_turns_a_passing_report_into_a_failed_one():
    passed = validation.ValidationReport("t", "t", True, 5, (), 4)
    extra = sanity.missing_policy_failures(FRAME, parse_entry("t", ENTRY))
    failed = validation.with_failures(passed, extra)
    assert not failed.success and failed.evaluated == 8 and len(failed.failures) == 3
    assert validation.with_failures(passed, []) is passed

"""Validation of a wide table stays linear in its width: GX sees the suite in
batches of a few columns (its pandas engine does work proportional to the
batch's width for every expectation), and the answers are those of one batch."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from bnpipe.drafting import draft_suite
from bnpipe.validation import gx_context, validate, write_suite

pytestmark = pytest.mark.slow  # imports Great Expectations

NARROW = 64  # columns: at most this many in a batch of rules on one column each


@pytest.fixture
def batches(monkeypatch):
    """The width of every frame GX validates (the real GX runs; only its widths are
    recorded)."""
    real = gx_context._batch_definition()
    widths: list[int] = []

    class Recording:
        def get_batch(self, batch_parameters):
            widths.append(batch_parameters["dataframe"].shape[1])
            return real.get_batch(batch_parameters=batch_parameters)

    monkeypatch.setattr(gx_context, "_batch_definition", Recording)
    return widths


def wide(columns: int, rows: int = 30) -> pd.DataFrame:
    rng = np.random.default_rng(7)
    df = pd.DataFrame(rng.normal(size=(rows, columns)), columns=[f"c{i}" for i in range(columns)])
    df["y"] = rng.normal(size=rows)
    return df


def test_a_wide_table_is_validated_in_narrow_batches(tmp_path, batches):
    df = wide(150)
    suite = draft_suite(df, "wide", target="y", task="regression", categorical=[])
    write_suite(suite, tmp_path / "wide.json")
    report = validate(df, tmp_path / "wide.json", "wide", reference_rows=len(df))
    assert report.success, report.summary()
    assert report.evaluated == len(suite["expectations"])
    # the table rules (the ordered column list, duplicated rows) see the whole frame
    # once; every rule on one column runs in a batch of at most NARROW columns
    assert batches.count(df.shape[1]) == 1, batches
    narrow = [w for w in batches if w != df.shape[1]]
    assert narrow and max(narrow) <= NARROW, batches
    assert sum(narrow) == df.shape[1], batches  # each column in one batch


def test_failures_across_batches_keep_their_details_and_the_suite_order(tmp_path, batches):
    df = wide(105)
    suite = draft_suite(df, "wide", target="y", task="regression", categorical=[])
    write_suite(suite, tmp_path / "wide.json")
    bad = df.copy()
    last = f"c{df.shape[1] - 2}"  # in the last batch
    bad.loc[3, last] = 1e6  # out of its drafted range
    bad.loc[[1, 2], "c1"] = np.nan  # blanks in the first batch
    bad = bad.drop(columns=["c60"])  # a missing column: the ordered list fails as well
    report = validate(bad, tmp_path / "wide.json", "wide")
    found = [(f.column, f.rule) for f in report.failures]
    assert found == [
        (None, "expect_table_columns_to_match_ordered_list"),
        ("c1", "expect_column_values_to_not_be_null"),
        ("c60", "expect_column_to_exist"),
        (last, "expect_column_values_to_be_between"),
    ], report.summary()
    between = report.failures[-1]  # its offending value, from the summary's second pass
    assert (between.count, between.offending) == (1, [1000000]), between
    assert report.failures[1].count == 2, report.failures[1]

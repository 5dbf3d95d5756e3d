"""A dataset's data checked as a run checks it, in one place for ``bnpipe run``
and ``bnpipe validate``: its expectation suite (the row count against the last
good copy's), the catalog's missing-value policy and a target that varies
(``bnpipe.validation.sanity``)."""

from __future__ import annotations

import pandas as pd

from bnpipe.catalog import DatasetSpec
from bnpipe.settings import Settings

NOT_NULL_RULE = "expect_column_values_to_not_be_null"


def check_data(df: pd.DataFrame, spec: DatasetSpec, settings: Settings):
    """The ``ValidationReport`` of ``df``: ``expectations/<suite>.json`` (the row
    count against the last good snapshot's, when there is one), then blank cells
    the catalog's ``missing: error`` refuses (columns whose not-null rule already
    failed are not reported twice), and a target with fewer than 2 distinct values
    (``bnpipe.validation.sanity.constant_target``)."""
    from bnpipe import ingest, validation
    from bnpipe.validation import sanity

    last_good = ingest.DataCache(settings.cache_dir).latest(spec.name)
    report = validation.validate(
        df,
        settings.expectations_dir / f"{spec.suite}.json",
        spec.name,
        reference_rows=len(ingest.read_csv(last_good.path, sep=spec.sep)) if last_good else None,
    )
    nulls = {f.column for f in report.failures if f.rule == NOT_NULL_RULE}
    more = [*sanity.missing_policy_failures(df, spec, nulls), *sanity.target_failures(df, spec)]
    return validation.with_failures(report, more)
